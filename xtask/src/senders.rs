//! `cargo xtask sender <approve | share | revoke | show> <sender> [store_hash]`: the operator's sender
//! approvals, written to the stack's table (`TABLE_NAME`, with the standard AWS variables; locally
//! `AWS_ENDPOINT_URL` from `.local/dev/functions.env`). Approve a sender for a store only after checking in the
//! SMS provider account that the number or alphanumeric ID was registered for that merchant.

use anyhow::{Context, Result, bail};
use shared::StoreHash;
use shared::db::Db;
use shared::model::SenderSharing;
use shared::model::settings::is_sender_id;

const USAGE: &str = "usage: cargo xtask sender <approve | share | revoke> <sender> <store_hash> | show <sender>";

pub fn sender(args: &[String]) -> Result<()> {
    let command = match args {
        [verb, sender, store] if ["approve", "share", "revoke"].contains(&verb.as_str()) => {
            if !is_sender_id(sender) {
                bail!("{sender:?} is not a phone number in international form or an alphanumeric sender ID");
            }
            let store = StoreHash::parse(store).map_err(|_| anyhow::anyhow!("{store:?} is not a store hash"))?;
            (verb.clone(), sender.clone(), Some(store))
        }
        [verb, sender] if verb == "show" => (verb.clone(), sender.clone(), None),
        _ => bail!(USAGE),
    };
    let table = std::env::var("TABLE_NAME").context("set TABLE_NAME to the stack's table")?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let db = Db::new(aws_sdk_dynamodb::Client::new(&sdk), table);
        let now = chrono::Utc::now();
        match command {
            (verb, sender, Some(store)) => {
                if db.get_store(&store).await?.is_none() {
                    bail!("no store {store} in the table");
                }
                match verb.as_str() {
                    "approve" => {
                        db.approve_sender(&sender, &store, SenderSharing::Exclusive, now)
                            .await?
                    }
                    "share" => db.approve_sender(&sender, &store, SenderSharing::Shared, now).await?,
                    _ => db.revoke_sender(&sender, &store, now).await?,
                }
                println!("{verb}: {sender} for store {store}");
            }
            (_, sender, None) => match db.sender_approval(&sender).await? {
                Some(approval) => println!(
                    "{}: stores {:?}{}",
                    approval.sender,
                    approval.stores.iter().map(StoreHash::as_str).collect::<Vec<_>>(),
                    if approval.shared { " (shared)" } else { "" }
                ),
                None => println!("{sender}: not approved for any store"),
            },
        }
        Ok(())
    })
}
