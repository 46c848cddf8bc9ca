//! The merchant's choices at setup. Every "Connect" saves a new, immutable version: the choice itself is
//! compliance evidence (who chose what, when), and each sent message records the version that allowed it.

use super::MerchantUser;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How SMS marketing consent is obtained (the three options of the MessageMedia setup seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentOption {
    /// Option 1: an SMS-specific, unchecked checkbox at checkout (Terms and Privacy links mandatory).
    SmsCheckbox,
    /// Option 2: BigCommerce's general marketing opt-in ("Require Consent" must be on).
    GeneralMarketing,
    /// Option 3 ("None"): inferred consent, only after the merchant acknowledges it is lawful for them.
    Inferred,
}

/// A narrowing of the hours reminders may go out, in the recipient's local time. It can only narrow the
/// legal window, never widen it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    /// Earliest local hour a message may be sent (0-23).
    pub start_hour: u8,
    /// Local hour by which sending stops (1-24, exclusive).
    pub end_hour: u8,
}

impl QuietHours {
    /// 08:00-20:00: the default send window outside the US.
    pub fn default_non_us() -> Self {
        Self {
            start_hour: 8,
            end_hour: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSettings {
    /// Minutes after the cart's last activity before the first reminder (15-60).
    pub first_delay_minutes: u32,
    /// Reminders per abandoned cart where the rules allow more than one (1-3). US and Canadian numbers
    /// always get at most one.
    pub max_steps: u8,
    /// Hours after the first reminder for steps 2 and 3.
    pub later_step_delays_hours: Vec<u32>,
    /// The message template (placeholders: `{brand}`, `{first_name}`, `{items}`, `{link}`, `{discount}`).
    pub template: String,
    pub discount_code: Option<String>,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        Self {
            first_delay_minutes: 30,
            max_steps: 3,
            later_step_delays_hours: vec![24, 48],
            template: "{brand}: Hi {first_name}, you left {items} in your cart. Complete your order: {link}".to_owned(),
            discount_code: None,
        }
    }
}

/// One saved version of a store's settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub version: u32,
    pub saved_at: DateTime<Utc>,
    pub saved_by: MerchantUser,
    pub consent_option: ConsentOption,
    pub terms_url: Option<String>,
    pub privacy_url: Option<String>,
    /// General-marketing option: the merchant ticked that "Require Consent" is on (we also check the API).
    pub require_consent_confirmed: bool,
    /// Inferred option: the merchant acknowledged that inferred consent is lawful in their region.
    pub inferred_acknowledged: bool,
    pub sync_contacts: bool,
    /// Contact group for BigCommerce subscribers (Dotdigital seed: "Store subscribers").
    pub subscriber_group: String,
    /// Contact group for customers who have not subscribed to marketing.
    pub customer_group: String,
    /// The brand named in every message.
    pub brand_name: String,
    /// Where HELP replies send people (an email address or phone number).
    pub help_contact: String,
    /// The number or alphanumeric sender ID the store's messages come from.
    pub sender_id: Option<String>,
    pub reminders: ReminderSettings,
    /// No marketing SMS within this many hours of the previous one to the same number (8-72).
    pub smart_sending_hours: u32,
    /// The merchant's own narrowing of send hours (it never widens the legal window).
    pub quiet_hours: Option<QuietHours>,
    /// Send hours, in the recipient's local time, for recipients outside the US (no statute sets them
    /// there; vendors use 08:00-20:00/21:00). The consent engine never lets it exceed 08:00-21:00.
    #[serde(default = "QuietHours::default_non_us")]
    pub default_send_window: QuietHours,
    /// Cart reminders to US numbers need a texted double opt-in (carrier cart-reminder policy).
    pub us_double_opt_in: bool,
    /// Messages per second this store's sender may send (its registered throughput).
    pub messages_per_second: u32,
    /// Content hash of the checkout disclosure text in force (SMS-checkbox option).
    pub disclosure_version: Option<String>,
}

impl Settings {
    /// The defaults a new store starts from before the merchant connects.
    pub fn defaults(saved_by: MerchantUser, brand_name: &str, saved_at: DateTime<Utc>) -> Self {
        Self {
            version: 0,
            saved_at,
            saved_by,
            consent_option: ConsentOption::SmsCheckbox,
            terms_url: None,
            privacy_url: None,
            require_consent_confirmed: false,
            inferred_acknowledged: false,
            sync_contacts: true,
            subscriber_group: "Store subscribers".to_owned(),
            customer_group: "Store customers".to_owned(),
            brand_name: brand_name.to_owned(),
            help_contact: String::new(),
            sender_id: None,
            reminders: ReminderSettings::default(),
            smart_sending_hours: 24,
            quiet_hours: None,
            default_send_window: QuietHours::default_non_us(),
            us_double_opt_in: true,
            messages_per_second: 10,
            disclosure_version: None,
        }
    }
}
