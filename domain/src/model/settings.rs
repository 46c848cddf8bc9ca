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
    /// The message template (placeholders: `{brand}`, `{first_name}`, `{items}`, `{link}`, `{discount}`,
    /// `{contact}`: the sender's contact details where the recipient's market requires them, else nothing).
    pub template: String,
    pub discount_code: Option<String>,
    /// The BigCommerce coupon promotion each reminder gets its own single-use code from (it replaces
    /// `discount_code` in the text); `None`: no unique codes.
    #[serde(default)]
    pub coupon_promotion_id: Option<u64>,
}

impl Default for ReminderSettings {
    fn default() -> Self {
        Self {
            first_delay_minutes: 30,
            max_steps: 3,
            later_step_delays_hours: vec![24, 48],
            template: "{brand}: Hi {first_name}, you left {items} in your cart. Complete your order: {link}".to_owned(),
            discount_code: None,
            coupon_promotion_id: None,
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
    /// Where HELP replies send people (an email address or phone number). Also the contact every marketing
    /// text to Canada or Australia carries ([`Settings::sender_contact`]).
    pub help_contact: String,
    /// The business's mailing address, which every marketing text to Canada must carry (CASL); optional
    /// elsewhere.
    #[serde(default)]
    pub mailing_address: Option<String>,
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
            mailing_address: None,
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

/// One reason a settings candidate cannot be saved, tied to the form field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    /// The field's name on the settings form (`terms_url`, `first_delay_minutes`, ...).
    pub field: &'static str,
    /// One sentence the merchant can act on.
    pub message: String,
}

impl SettingsProblem {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Minutes after the last cart activity the first reminder may be set to (design: 15-60, default 30).
pub const FIRST_DELAY_MINUTES: std::ops::RangeInclusive<u32> = 15..=60;
/// Reminders per cart a merchant may choose (design: 1-3; the US and Canada always get one).
pub const REMINDER_STEPS: std::ops::RangeInclusive<u8> = 1..=3;
/// Hours after the first reminder that a later step may be due (at most a week).
pub const LATER_STEP_DELAY_HOURS: std::ops::RangeInclusive<u32> = 1..=168;
/// Hours of the smart-sending window (design: 8-72, default 24).
pub const SMART_SENDING_HOURS: std::ops::RangeInclusive<u32> = 8..=72;
/// The merchant's quiet-hour narrowing must lie inside 08:00-21:00, the widest window any recipient gets.
pub const NARROWING_HOURS: std::ops::RangeInclusive<u8> = 8..=21;
/// Longest brand name: it opens every message, and every character costs segment space.
pub const MAX_BRAND_LENGTH: usize = 40;
/// Longest contact group name.
pub const MAX_GROUP_LENGTH: usize = 100;
/// Longest mailing address: it goes into every marketing text to Canada and Australia.
pub const MAX_MAILING_ADDRESS_LENGTH: usize = 100;
/// The most SMS segments a consent text or a sample reminder may take (cost, and carriers filter long texts).
pub const MAX_SEGMENTS: usize = 2;

impl Settings {
    /// The sender identification a marketing text to `market` must carry, or `None` when the settings lack
    /// what that market requires: Canada (CASL, R-CA-3) the brand, a mailing address and the help contact (a
    /// phone number, email or web address); Australia (Spam Act, R-AU-2) the brand and the help contact (and
    /// the address when given); other markets none.
    pub fn sender_contact(&self, market: crate::consent::Market) -> Option<String> {
        use crate::consent::Market;
        let brand = self.brand_name.trim();
        let contact = self.help_contact.trim();
        let address = self.mailing_address.as_deref().map(str::trim).filter(|a| !a.is_empty());
        if brand.is_empty() || contact.is_empty() {
            return None;
        }
        match (market, address) {
            (Market::Canada | Market::Australia, Some(address)) => Some(format!("{brand}, {address}, {contact}")),
            (Market::Australia, None) => Some(format!("{brand}, {contact}")),
            _ => None,
        }
    }

    /// The checkout checkbox text these settings produce, when the SMS-checkbox option is chosen.
    pub fn disclosure(&self) -> Option<Result<crate::consent::Disclosure, crate::consent::DisclosureError>> {
        (self.consent_option == ConsentOption::SmsCheckbox).then(|| {
            crate::consent::build_disclosure(
                &self.brand_name,
                self.terms_url.as_deref().unwrap_or_default(),
                self.privacy_url.as_deref().unwrap_or_default(),
            )
        })
    }

    /// Everything that stops these settings from being saved (empty: they may be saved). The rules a consent
    /// option needs come from the MessageMedia opt-in seed: Terms and Privacy URLs for the SMS checkbox, the
    /// "Require Consent" confirmation for general marketing, the lawfulness acknowledgement for inferred
    /// consent. Checks that need BigCommerce (is "Require Consent" really on?) are the caller's.
    pub fn problems(&self) -> Vec<SettingsProblem> {
        let mut problems = Vec::new();
        let brand = self.brand_name.trim();
        if brand.is_empty() {
            problems.push(SettingsProblem::new(
                "brand_name",
                "Enter the brand name your messages come from: every message must name it.",
            ));
        } else if brand.chars().count() > MAX_BRAND_LENGTH || brand.chars().any(char::is_control) {
            problems.push(SettingsProblem::new(
                "brand_name",
                format!("The brand name must be one line of at most {MAX_BRAND_LENGTH} characters."),
            ));
        }
        if !is_help_contact(&self.help_contact) {
            problems.push(SettingsProblem::new(
                "help_contact",
                "Enter where people who reply HELP can get help: an email address, a phone number or an https link.",
            ));
        }
        if let Some(address) = self.mailing_address.as_deref()
            && (address.trim().is_empty()
                || address.chars().count() > MAX_MAILING_ADDRESS_LENGTH
                || address.chars().any(char::is_control))
        {
            problems.push(SettingsProblem::new(
                "mailing_address",
                format!("The mailing address must be one line of at most {MAX_MAILING_ADDRESS_LENGTH} characters."),
            ));
        }
        if let Some(sender) = self.sender_id.as_deref()
            && !is_sender_id(sender)
        {
            problems.push(SettingsProblem::new(
                "sender_id",
                "The sender must be a phone number in international form (+ and 8 to 15 digits) or an \
                 alphanumeric sender ID of 1 to 11 letters, digits or spaces with at least one letter.",
            ));
        }
        match self.consent_option {
            ConsentOption::SmsCheckbox => {
                for (field, value, name) in [
                    ("terms_url", &self.terms_url, "Terms of Service"),
                    ("privacy_url", &self.privacy_url, "Privacy Policy"),
                ] {
                    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                        None => problems.push(SettingsProblem::new(
                            field,
                            format!(
                                "The {name} URL is mandatory for the SMS marketing opt-in: the checkout checkbox links to it."
                            ),
                        )),
                        Some(url) if !is_https_url(url) => problems.push(SettingsProblem::new(
                            field,
                            format!(
                                "The {name} URL must be a valid https:// address (no spaces or quotes), e.g. \
                                 https://your-store.example/terms."
                            ),
                        )),
                        Some(_) => {}
                    }
                }
                // The text the shopper will see must carry every element the rules require.
                if problems
                    .iter()
                    .all(|p| !matches!(p.field, "terms_url" | "privacy_url" | "brand_name"))
                    && let Some(result) = self.disclosure()
                {
                    match result {
                        Ok(disclosure) => {
                            let missing = crate::consent::validate_disclosure(&disclosure.text, brand);
                            if !missing.is_empty() {
                                let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
                                problems.push(SettingsProblem::new(
                                    "brand_name",
                                    format!("The checkbox text would lack {}.", list.join(", ")),
                                ));
                            }
                        }
                        Err(error) => problems.push(SettingsProblem::new("terms_url", error.to_string())),
                    }
                }
            }
            ConsentOption::GeneralMarketing if !self.require_consent_confirmed => {
                problems.push(SettingsProblem::new(
                    "require_consent_confirmed",
                    "Confirm that BigCommerce's Require Consent setting is on (Settings › General › \
                     Miscellaneous › Require Consent).",
                ));
            }
            ConsentOption::Inferred if !self.inferred_acknowledged => {
                problems.push(SettingsProblem::new(
                    "inferred_acknowledged",
                    "Inferred consent needs your acknowledgement that it is lawful in your region and that every \
                     message carries an opt-out.",
                ));
            }
            ConsentOption::GeneralMarketing | ConsentOption::Inferred => {}
        }
        for (field, group) in [
            ("subscriber_group", &self.subscriber_group),
            ("customer_group", &self.customer_group),
        ] {
            let group = group.trim();
            if group.is_empty() || group.chars().count() > MAX_GROUP_LENGTH || group.chars().any(char::is_control) {
                problems.push(SettingsProblem::new(
                    field,
                    format!("Enter a contact group name of 1 to {MAX_GROUP_LENGTH} characters."),
                ));
            } else if group.eq_ignore_ascii_case(super::contact::GUEST_GROUP) {
                problems.push(SettingsProblem::new(
                    field,
                    format!(
                        "\"{}\" is reserved for guests; choose another name.",
                        super::contact::GUEST_GROUP
                    ),
                ));
            }
        }
        if !self.subscriber_group.trim().is_empty()
            && self
                .subscriber_group
                .trim()
                .eq_ignore_ascii_case(self.customer_group.trim())
        {
            problems.push(SettingsProblem::new(
                "customer_group",
                "Keep subscribers and customers who have not subscribed in different groups, so the second is \
                 never used for marketing by mistake.",
            ));
        }
        let reminders = &self.reminders;
        if !FIRST_DELAY_MINUTES.contains(&reminders.first_delay_minutes) {
            problems.push(SettingsProblem::new(
                "first_delay_minutes",
                format!(
                    "The first reminder goes {} to {} minutes after the cart's last activity.",
                    FIRST_DELAY_MINUTES.start(),
                    FIRST_DELAY_MINUTES.end()
                ),
            ));
        }
        if !REMINDER_STEPS.contains(&reminders.max_steps) {
            problems.push(SettingsProblem::new(
                "max_steps",
                format!(
                    "Choose {} to {} reminders per cart.",
                    REMINDER_STEPS.start(),
                    REMINDER_STEPS.end()
                ),
            ));
        } else {
            let later = usize::from(reminders.max_steps) - 1;
            let fields = ["step2_delay_hours", "step3_delay_hours"];
            let mut previous = 0;
            for (i, field) in fields.iter().enumerate().take(later) {
                match reminders.later_step_delays_hours.get(i) {
                    Some(hours) if LATER_STEP_DELAY_HOURS.contains(hours) && *hours > previous => previous = *hours,
                    _ => {
                        problems.push(SettingsProblem::new(
                            field,
                            format!(
                                "Reminder {} goes {} to {} hours after the first one, later than the reminder before it.",
                                i + 2,
                                LATER_STEP_DELAY_HOURS.start(),
                                LATER_STEP_DELAY_HOURS.end()
                            ),
                        ));
                        break;
                    }
                }
            }
        }
        if !SMART_SENDING_HOURS.contains(&self.smart_sending_hours) {
            problems.push(SettingsProblem::new(
                "smart_sending_hours",
                format!(
                    "The smart-sending window is {} to {} hours.",
                    SMART_SENDING_HOURS.start(),
                    SMART_SENDING_HOURS.end()
                ),
            ));
        }
        problems.extend(self.length_problems(&problems));
        if let Some(hours) = self.quiet_hours
            && !(NARROWING_HOURS.contains(&hours.start_hour)
                && NARROWING_HOURS.contains(&hours.end_hour)
                && hours.start_hour < hours.end_hour)
        {
            problems.push(SettingsProblem::new(
                "quiet_hours",
                format!(
                    "Send hours narrow the legal window: the start must be before the end, both between {:02}:00 \
                     and {:02}:00.",
                    NARROWING_HOURS.start(),
                    NARROWING_HOURS.end()
                ),
            ));
        }
        problems
    }
}

impl Settings {
    /// Texts that would take more than [`MAX_SEGMENTS`]: the consent texts (with the Terms and Privacy links)
    /// and the reminder to Canada and Australia (with the sender's contact details). Checked only once the
    /// fields they are built from are valid (`earlier` holds the problems found so far).
    fn length_problems(&self, earlier: &[SettingsProblem]) -> Vec<SettingsProblem> {
        use crate::consent::content::{double_opt_in_confirmed, double_opt_in_request, opt_in_confirmation};
        use crate::consent::{Market, count_segments};
        let invalid = |fields: &[&str]| earlier.iter().any(|p| fields.contains(&p.field));
        let mut problems = Vec::new();
        let linked = self.terms_url.is_some() && self.privacy_url.is_some();
        if linked && !invalid(&["brand_name", "terms_url", "privacy_url"]) {
            for (name, text) in [
                ("double opt-in request", double_opt_in_request(self)),
                ("opt-in confirmation", opt_in_confirmation(self)),
                ("double opt-in confirmation", double_opt_in_confirmed(self)),
            ] {
                let count = count_segments(&text);
                if count.segments > MAX_SEGMENTS {
                    problems.push(SettingsProblem::new(
                        "terms_url",
                        format!(
                            "With this brand name and these links the {name} would take {} SMS segments ({}); use \
                             shorter Terms and Privacy links so it fits in {MAX_SEGMENTS}.",
                            count.segments,
                            count.encoding.describe()
                        ),
                    ));
                    break;
                }
            }
        }
        if !invalid(&["brand_name", "help_contact", "mailing_address"]) {
            for market in [Market::Canada, Market::Australia] {
                if self.sender_contact(market).is_none() {
                    continue;
                }
                if let Ok(reminder) = crate::recovery::sample_reminder(self, market)
                    && reminder.segments as usize > MAX_SEGMENTS
                {
                    problems.push(SettingsProblem::new(
                        "mailing_address",
                        format!(
                            "A cart reminder to {} carries your contact details and would take {} SMS segments; \
                             shorten the mailing address or help contact so it fits in {MAX_SEGMENTS}.",
                            market.describe(),
                            reminder.segments
                        ),
                    ));
                    break;
                }
            }
        }
        problems
    }
}

/// An absolute `https://` URL with a host, no whitespace, quotes or angle brackets.
pub fn is_https_url(url: &str) -> bool {
    let Some(rest) = url
        .get(..8)
        .filter(|scheme| scheme.eq_ignore_ascii_case("https://"))
        .map(|_| &url[8..])
    else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_name = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host_name = host_name.split(':').next().unwrap_or_default();
    !host_name.is_empty()
        && host_name.contains('.')
        && host_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\'))
}

/// An email address, a phone number (any kind: a help line may be a landline) or an https link.
fn is_help_contact(value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        return false;
    }
    if is_https_url(value) {
        return true;
    }
    if let Some((local, domain)) = value.split_once('@') {
        return !local.is_empty()
            && !local.contains(char::is_whitespace)
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && value
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
}

/// A phone number in international form, or an alphanumeric sender ID (1-11 characters, at least one letter).
pub fn is_sender_id(value: &str) -> bool {
    if let Some(digits) = value.strip_prefix('+') {
        return (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    }
    (1..=11).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && value.bytes().any(|b| b.is_ascii_alphabetic())
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

#[cfg(test)]
mod validation_tests {
    use super::*;

    fn valid() -> Settings {
        let user = MerchantUser {
            id: 1,
            email: "owner@example.com".into(),
        };
        let mut settings = Settings::defaults(user, "Acme Outfitters", chrono::Utc::now());
        settings.terms_url = Some("https://acme.example.com/terms".into());
        settings.privacy_url = Some("https://acme.example.com/privacy".into());
        settings.help_contact = "help@acme.example.com".into();
        settings
    }

    fn fields(settings: &Settings) -> Vec<&'static str> {
        settings.problems().iter().map(|p| p.field).collect()
    }

    #[test]
    fn the_defaults_with_urls_and_help_are_valid() {
        assert_eq!(valid().problems(), vec![]);
    }

    #[test]
    fn the_sms_checkbox_needs_both_https_urls() {
        let mut s = valid();
        s.terms_url = None;
        s.privacy_url = Some("http://acme.example.com/privacy".into());
        assert_eq!(fields(&s), vec!["terms_url", "privacy_url"]);
        s.terms_url = Some("https://acme.example.com/terms of service".into());
        s.privacy_url = Some("https://".into());
        assert_eq!(fields(&s), vec!["terms_url", "privacy_url"]);
        // Other options do not need them.
        s.consent_option = ConsentOption::Inferred;
        s.inferred_acknowledged = true;
        assert_eq!(fields(&s), Vec::<&str>::new());
    }

    #[test]
    fn general_marketing_needs_the_require_consent_confirmation() {
        let mut s = valid();
        s.consent_option = ConsentOption::GeneralMarketing;
        assert_eq!(fields(&s), vec!["require_consent_confirmed"]);
        s.require_consent_confirmed = true;
        assert!(s.problems().is_empty());
    }

    #[test]
    fn inferred_consent_needs_the_acknowledgement() {
        let mut s = valid();
        s.consent_option = ConsentOption::Inferred;
        assert_eq!(fields(&s), vec!["inferred_acknowledged"]);
    }

    #[test]
    fn ranges_are_enforced() {
        let mut s = valid();
        s.reminders.first_delay_minutes = 14;
        s.reminders.max_steps = 4;
        s.smart_sending_hours = 73;
        s.quiet_hours = Some(QuietHours {
            start_hour: 7,
            end_hour: 20,
        });
        assert_eq!(
            fields(&s),
            vec!["first_delay_minutes", "max_steps", "smart_sending_hours", "quiet_hours"]
        );
        let mut s = valid();
        s.reminders.first_delay_minutes = 60;
        s.smart_sending_hours = 8;
        s.quiet_hours = Some(QuietHours {
            start_hour: 9,
            end_hour: 21,
        });
        assert!(s.problems().is_empty());
        s.quiet_hours = Some(QuietHours {
            start_hour: 12,
            end_hour: 12,
        });
        assert_eq!(fields(&s), vec!["quiet_hours"]);
    }

    #[test]
    fn later_steps_must_come_later() {
        let mut s = valid();
        s.reminders.later_step_delays_hours = vec![48, 24];
        assert_eq!(fields(&s), vec!["step3_delay_hours"]);
        s.reminders.max_steps = 2;
        assert!(s.problems().is_empty());
        s.reminders.later_step_delays_hours = vec![];
        assert_eq!(fields(&s), vec!["step2_delay_hours"]);
        s.reminders.max_steps = 1;
        assert!(s.problems().is_empty());
    }

    #[test]
    fn groups_are_named_apart_and_never_the_guest_group() {
        let mut s = valid();
        s.customer_group = " store SUBSCRIBERS ".into();
        assert_eq!(fields(&s), vec!["customer_group"]);
        s.customer_group = "BigCommerce - Guests".into();
        assert_eq!(fields(&s), vec!["customer_group"]);
        s.subscriber_group = String::new();
        s.customer_group = "Customers".into();
        assert_eq!(fields(&s), vec!["subscriber_group"]);
    }

    #[test]
    fn brand_help_and_sender_are_checked() {
        let mut s = valid();
        s.brand_name = "  ".into();
        s.help_contact = "call us".into();
        s.sender_id = Some("TOO LONG SENDER".into());
        assert_eq!(fields(&s), vec!["brand_name", "help_contact", "sender_id"]);
        for help in [
            "help@acme.example.com",
            "+1 (212) 555-0100",
            "https://acme.example.com/help",
        ] {
            s.help_contact = help.into();
            assert!(is_help_contact(&s.help_contact), "{help}");
        }
        for sender in ["+12125550100", "Acme", "ACME 2"] {
            assert!(is_sender_id(sender), "{sender}");
        }
        for sender in ["12125550100", "+1212", "12345", "Acme!", " Acme"] {
            assert!(!is_sender_id(sender), "{sender}");
        }
    }

    #[test]
    fn https_urls() {
        for good in [
            "https://acme.example.com",
            "https://acme.example.com/legal/terms?x=1#a",
            "HTTPS://shop.example.co.uk:8443/p",
        ] {
            assert!(is_https_url(good), "{good}");
        }
        for bad in [
            "http://acme.example.com",
            "https://",
            "https:///terms",
            "https://localhost/terms",
            "https://acme.example.com/a b",
            "https://acme.example.com/\"x",
            "javascript:alert(1)",
            "acme.example.com/terms",
        ] {
            assert!(!is_https_url(bad), "{bad}");
        }
    }

    #[test]
    fn sender_contact_follows_each_markets_rule() {
        use crate::consent::Market;
        let mut s = valid();
        // Canada needs a mailing address; Australia contact details; the US and the UK nothing.
        assert_eq!(s.sender_contact(Market::Canada), None);
        assert_eq!(
            s.sender_contact(Market::Australia).as_deref(),
            Some("Acme Outfitters, help@acme.example.com")
        );
        assert_eq!(s.sender_contact(Market::Us), None);
        s.mailing_address = Some(" 1 Main St, Toronto ON M5V 1A1 ".into());
        let expected = "Acme Outfitters, 1 Main St, Toronto ON M5V 1A1, help@acme.example.com";
        assert_eq!(s.sender_contact(Market::Canada).as_deref(), Some(expected));
        assert_eq!(s.sender_contact(Market::Australia).as_deref(), Some(expected));
        assert_eq!(s.sender_contact(Market::UnitedKingdom), None);
        assert_eq!(s.problems(), vec![]);
        // The reminder to Canada carries it, within two segments.
        let reminder = crate::recovery::sample_reminder(&s, Market::Canada).unwrap();
        assert!(reminder.body.contains(expected), "{}", reminder.body);
        assert!(reminder.segments <= 2, "{}", reminder.body);
        let us = crate::recovery::sample_reminder(&s, Market::Us).unwrap();
        assert!(!us.body.contains("Toronto"), "{}", us.body);
    }

    #[test]
    fn the_mailing_address_is_one_short_line() {
        let mut s = valid();
        for bad in ["  ", "1 Main St\nToronto", &"x".repeat(MAX_MAILING_ADDRESS_LENGTH + 1)] {
            s.mailing_address = Some(bad.to_owned());
            assert_eq!(fields(&s), vec!["mailing_address"], "{bad:?}");
        }
    }

    #[test]
    fn texts_must_fit_two_segments() {
        // A long address pushes the Canadian reminder to a third segment.
        let mut s = valid();
        s.mailing_address = Some(format!("Unit 1, {} Street, Toronto ON", "Long".repeat(18)));
        assert_eq!(s.problems(), vec![], "an address of 99 characters fits");
        s.help_contact = "customer.care.department@acme-outfitters-example.com".into();
        let problems = s.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "mailing_address");
        assert!(
            problems[0].message.contains("3 SMS segments"),
            "{}",
            problems[0].message
        );
        // Long links push the consent texts past two segments.
        let mut s = valid();
        s.terms_url = Some(format!("https://acme.example.com/{}/terms", "legal".repeat(12)));
        let problems = s.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field, "terms_url");
        assert!(problems[0].message.contains("GSM-7"), "{}", problems[0].message);
    }

    #[test]
    fn the_disclosure_is_built_only_for_the_sms_checkbox() {
        let mut s = valid();
        let disclosure = s.disclosure().unwrap().unwrap();
        assert!(disclosure.text.contains("Acme Outfitters"));
        assert!(disclosure.text.contains("https://acme.example.com/terms"));
        s.consent_option = ConsentOption::GeneralMarketing;
        assert!(s.disclosure().is_none());
    }
}
