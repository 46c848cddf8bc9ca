//! `cargo xtask demo` runs this: the demo story on a fresh local stack, its logs in a file.

use std::io::IsTerminal;

#[tokio::main]
async fn main() {
    let log_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/demo");
    std::fs::create_dir_all(&log_dir).expect("log folder");
    let log_path = log_dir.join("app.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    shared::logging::init_writing_to(std::sync::Mutex::new(log));

    println!("SMS consent and cart recovery for BigCommerce: a demo on this machine");
    println!(
        "(a simulated store, the app's real functions on local AWS (moto) and a sandbox SMS provider; \
         the app's logs go to {})",
        log_path.display()
    );
    let moto = match devstack::moto::Moto::start(&devstack::tools_dir()).await {
        Ok(moto) => moto,
        Err(error) => {
            eprintln!("The demo needs the AWS emulator: {error}");
            std::process::exit(1);
        }
    };
    integration_tests::use_moto(moto.url());
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    integration_tests::demo::run(&mut stdout.lock(), terminal).await;
    moto.stop().await;
    println!("\nThe demo is over; everything it started has stopped.");
}
