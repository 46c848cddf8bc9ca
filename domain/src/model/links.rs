//! What our unguessable link tokens stand for (stored with `shared::db::Db::put_token`).

use crate::{Phone, StoreHash};
use serde::{Deserialize, Serialize};

/// A reminder's recovery link, `APP_URL/r/{token}` (one per cart and step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryLink {
    pub store_hash: StoreHash,
    pub cart_id: String,
    pub step: u8,
}

impl RecoveryLink {
    pub const TOKEN_KIND: &'static str = "recovery";
}

/// A one-click web opt-out link, `APP_URL/stop/{token}`, carried by messages from senders that cannot receive
/// replies (alphanumeric sender IDs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOutLink {
    pub store_hash: StoreHash,
    pub phone: Phone,
}

impl OptOutLink {
    pub const TOKEN_KIND: &'static str = "opt_out";
}
