//! `cargo xtask dev`: the whole app running locally (see `devstack::dev`), until Ctrl-C.

use anyhow::{Context, Result, bail};
use devstack::dev::{DevOptions, DevStack, RealBigCommerce};

const USAGE: &str =
    "usage: cargo xtask dev [--port 3000] [--watch-port 9000] [--speed N] [--public-url https://tunnel.example]
  --speed N       virtual time runs N times faster (reminder delays, quiet hours, the sweep schedule)
  --public-url    the HTTPS URL of a tunnel to this machine, for a real BigCommerce sandbox store
  With BC_CLIENT_ID and BC_CLIENT_SECRET set, the app talks to real BigCommerce (BC_API_URL, BC_LOGIN_URL
  default to production); with SMS_PROVIDER=messagemedia|twilio and its credentials, to a real provider.
  Otherwise the BigCommerce simulator and the SMS sandbox run locally.";

pub fn dev(args: &[String]) -> Result<()> {
    let mut options = DevOptions::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--port" => options.port = value()?.parse()?,
            "--watch-port" => options.watch_port = value()?.parse()?,
            "--speed" => options.speed = value()?.parse()?,
            "--public-url" => options.public_url = Some(value()?.trim_end_matches('/').to_owned()),
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    if let (Ok(client_id), Ok(client_secret)) = (std::env::var("BC_CLIENT_ID"), std::env::var("BC_CLIENT_SECRET")) {
        options.bigcommerce = Some(RealBigCommerce {
            client_id,
            client_secret,
            api_url: std::env::var("BC_API_URL").unwrap_or_else(|_| "https://api.bigcommerce.com".into()),
            login_url: std::env::var("BC_LOGIN_URL").unwrap_or_else(|_| "https://login.bigcommerce.com".into()),
        });
    }
    for name in [
        "SMS_PROVIDER",
        "MESSAGEMEDIA_API_KEY",
        "MESSAGEMEDIA_API_SECRET",
        "MESSAGEMEDIA_API_URL",
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_API_URL",
    ] {
        if let Ok(value) = std::env::var(name) {
            options.extra_env.push((name.to_owned(), value));
        }
    }

    crate::tools::bootstrap()?;
    println!("Building the functions (cargo lambda watch serves these builds)...");
    devstack::dev::build_functions(options.features.as_deref())?;

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let stack = DevStack::start(options.clone()).await?;
        println!();
        println!("The app is running locally.");
        println!("  App URL (APP_URL):        {}", stack.app_url);
        if let Some(url) = stack.install_url() {
            println!("  Install it (simulated store '{}'): {url}", devstack::dev::DEV_STORE);
            println!(
                "  Open it after installing:  {}",
                stack.open_app_url().unwrap_or_default()
            );
        }
        println!("  Callback URLs for the BigCommerce Developer Portal:");
        for path in ["/auth", "/load", "/uninstall", "/remove_user"] {
            println!("    {}{path}", stack.app_url);
        }
        if let Some(sim) = &stack.bigcommerce {
            println!("  BigCommerce simulator:     {}", sim.api_url());
        }
        if let Some(sms) = &stack.sms {
            println!("  SMS sandbox (sent texts):  {}/_sandbox/messages", sms.api_url());
        }
        println!(
            "  Function invoke API:       {} (cargo lambda invoke <function> --data-file events/...)",
            stack.watch_url
        );
        println!("  Time runs {}x real time.", options.speed.max(1));
        println!("  Logs (JSON, every function): {}", stack.log_file.display());
        println!("Press Ctrl-C to stop everything.");
        tokio::signal::ctrl_c().await?;
        println!("\nStopping...");
        stack.stop().await;
        println!("Stopped.");
        anyhow::Ok(())
    })
}
