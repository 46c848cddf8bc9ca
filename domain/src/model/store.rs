use crate::secret::SealedToken;
use crate::{Secret, StoreHash};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreStatus {
    Installed,
    /// The merchant uninstalled the app: nothing is sent for this store; consent records are kept.
    Uninstalled,
}

/// A BigCommerce user (the owner or another authorised user of a store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantUser {
    pub id: u64,
    pub email: String,
}

/// A user's access to the app at one store: BigCommerce's `/load` grants it, `/remove_user` ends it. The
/// record outlives a removal, because tokens and sessions issued before it must never restore the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccess {
    pub id: u64,
    pub email: String,
    /// Removed by the store owner, and not given access again since.
    #[serde(default)]
    pub removed: bool,
    /// The last removal (whole seconds), kept when access is given back: nothing issued before it counts.
    #[serde(default, with = "chrono::serde::ts_seconds_option")]
    pub removed_at: Option<DateTime<Utc>>,
}

impl UserAccess {
    /// The user, while they have access.
    pub fn user(&self) -> Option<MerchantUser> {
        (!self.removed).then(|| MerchantUser {
            id: self.id,
            email: self.email.clone(),
        })
    }
}

/// One installed store: the tenant record, keyed by store hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Store {
    pub store_hash: StoreHash,
    pub status: StoreStatus,
    /// The OAuth access token for the store's API, sealed with the access-token key (see
    /// `shared::access_token`): only the functions that call BigCommerce can open it. Deleted (empty) at
    /// uninstall.
    #[serde(default)]
    pub access_token: SealedToken,
    pub scopes: Vec<String>,
    pub owner: MerchantUser,
    pub account_uuid: String,
    /// Sent by BigCommerce as a custom header on every webhook delivery to this store's hooks.
    pub webhook_secret: Secret,
    /// When the current installation began (a re-install after an uninstall starts a new one): sessions issued
    /// before it are refused.
    pub installed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The last uninstall, kept after a re-install: callback tokens issued before it never open the app.
    #[serde(default)]
    pub uninstalled_at: Option<DateTime<Utc>>,
    /// The settings version in force; 0 until the merchant connects for the first time.
    #[serde(default)]
    pub settings_version: u32,
    /// Set at uninstall (30 days on): when the store's data is purged, but for the consent proof. A re-install
    /// clears it.
    #[serde(default)]
    pub purge_after: Option<DateTime<Utc>>,
}

impl Store {
    pub fn is_installed(&self) -> bool {
        self.status == StoreStatus::Installed
    }
}
