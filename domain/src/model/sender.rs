//! Who may send from a sender (a phone number or alphanumeric sender ID). Every store shares the app's one
//! provider account, and replies are routed by the number texted, so typing a sender into the settings proves
//! nothing: a sender is usable by a store only once the operator has approved it for that store (after checking
//! in the provider account that the number or ID was registered for that merchant). One store owns a sender;
//! two stores share one only when the operator approves it as shared.

use crate::StoreHash;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The key a sender is filed under: alphanumeric IDs are compared without case ("Acme" and "ACME" are one
/// sender on a handset), numbers as written (settings store them in international form).
pub fn sender_key(sender: &str) -> String {
    sender.trim().to_ascii_uppercase()
}

/// The operator's approval of one sender: the stores it is proven for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SenderApproval {
    pub sender: String,
    pub stores: Vec<StoreHash>,
    /// The operator approved the sender for several stores (otherwise one store owns it).
    pub shared: bool,
    pub updated_at: DateTime<Utc>,
}

/// How the operator approves a sender for a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderSharing {
    /// The store's own sender: refused when another store already has it (unless it is shared).
    Exclusive,
    /// The operator knowingly lets several stores use the sender (replies without a store name then concern
    /// every store that texted the phone).
    Shared,
}

/// A store's sender, as the settings page and the send function see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderStatus {
    /// No sender chosen: messages go out from the provider account's own numbers.
    AccountDefault,
    /// The operator approved the sender for this store.
    Approved { shared: bool },
    /// Not (or no longer) approved for this store: nothing is sent from it.
    NotApproved,
}

impl SenderStatus {
    /// The status of `sender` (the store's settings) for `store`, given the operator's approval of it.
    pub fn of(store: &StoreHash, sender: Option<&str>, approval: Option<&SenderApproval>) -> Self {
        if sender.map(str::trim).is_none_or(str::is_empty) {
            return Self::AccountDefault;
        }
        match approval {
            Some(approval) if approval.stores.contains(store) => Self::Approved {
                shared: approval.shared,
            },
            _ => Self::NotApproved,
        }
    }

    /// Whether messages may go out from the sender.
    pub fn may_send(&self) -> bool {
        !matches!(self, Self::NotApproved)
    }

    /// One sentence for the merchant.
    pub fn explanation(&self) -> &'static str {
        match self {
            Self::AccountDefault => "No sender chosen: messages come from the SMS account's shared numbers.",
            Self::Approved { shared: false } => "Approved for your store: messages come from this sender.",
            Self::Approved { shared: true } => {
                "Approved for your store, shared with other stores by the app's operator: messages come from \
                 this sender."
            }
            Self::NotApproved => {
                "Not approved for your store yet: no reminder is sent until it is. Ask the app's support to \
                 approve it; they check in the SMS account that the number or sender ID was registered for you."
            }
        }
    }
}

/// The code and sentence recorded on a reminder refused because its sender is not approved for the store.
pub const SENDER_NOT_APPROVED: &str = "sender_not_approved";

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(stores: &[&str], shared: bool) -> SenderApproval {
        SenderApproval {
            sender: "+12125550100".into(),
            stores: stores.iter().map(|s| StoreHash::parse(s).unwrap()).collect(),
            shared,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn only_an_approved_store_may_send_from_a_sender() {
        let a = StoreHash::parse("storea").unwrap();
        let b = StoreHash::parse("storeb").unwrap();
        let owned = approval(&["storea"], false);
        assert_eq!(
            SenderStatus::of(&a, Some("+12125550100"), Some(&owned)),
            SenderStatus::Approved { shared: false }
        );
        assert_eq!(
            SenderStatus::of(&b, Some("+12125550100"), Some(&owned)),
            SenderStatus::NotApproved
        );
        assert_eq!(
            SenderStatus::of(&b, Some("+12125550100"), None),
            SenderStatus::NotApproved
        );
        assert!(!SenderStatus::NotApproved.may_send());
        let shared = approval(&["storea", "storeb"], true);
        assert_eq!(
            SenderStatus::of(&b, Some("+12125550100"), Some(&shared)),
            SenderStatus::Approved { shared: true }
        );
        assert_eq!(SenderStatus::of(&b, None, None), SenderStatus::AccountDefault);
        assert_eq!(SenderStatus::of(&b, Some(" "), None), SenderStatus::AccountDefault);
        assert!(SenderStatus::AccountDefault.may_send());
    }

    #[test]
    fn alphanumeric_senders_are_one_sender_whatever_the_case() {
        assert_eq!(sender_key(" Acme "), sender_key("ACME"));
        assert_eq!(sender_key("+12125550100"), "+12125550100");
    }
}
