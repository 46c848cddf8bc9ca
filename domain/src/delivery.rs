//! What a provider reports about a message it accepted: the delivery outcome the send records follow.

use std::collections::BTreeMap;

/// How one message fared after the provider accepted it, from a delivery report or status callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryOutcome {
    /// On its way (enroute, submitted, queued, sent...).
    InProgress,
    Delivered,
    /// The number cannot receive texts (MessageMedia 411, 413; Twilio 21211, 21612, 21614, 30005,
    /// 30006): flag the contact, stop texting it.
    InvalidNumber,
    /// The destination is blocked, most likely because the recipient opted out at the carrier
    /// (MessageMedia 302, 412; Twilio 21610, 30004): stop texting it.
    Suppressed,
    /// Not delivered for another reason (expired, rejected, unreachable handset...).
    Failed,
}

impl DeliveryOutcome {
    pub fn is_final(self) -> bool {
        self != Self::InProgress
    }
}

/// A delivery report or status callback, whichever provider brought it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryUpdate {
    pub provider: &'static str,
    /// De-duplication key: MessageMedia `delivery_report_id`, Twilio `MessageSid:MessageStatus`
    /// (Twilio calls back once per status).
    pub id: String,
    /// The message it is about (the provider's id from sending it).
    pub message_id: String,
    pub outcome: DeliveryOutcome,
    /// The provider's status word and error code, for the send record.
    pub status: String,
    pub error_code: Option<u32>,
    pub metadata: BTreeMap<String, String>,
}
