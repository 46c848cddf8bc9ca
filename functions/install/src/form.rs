//! The settings form: posted fields in, a settings candidate (or the problems with it) out. Parsing happens
//! here; the rules are [`Settings::problems`], in the domain crate.

use chrono::{DateTime, Utc};
use shared::model::settings::SettingsProblem;
use shared::model::{ConsentOption, MerchantUser, QuietHours, Settings};

/// The largest form body accepted: the settings form is well under 4 KB.
pub const MAX_FORM_BYTES: usize = 32 * 1024;

/// A posted `application/x-www-form-urlencoded` body.
#[derive(Debug, Clone, Default)]
pub struct Form(Vec<(String, String)>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form is larger than {MAX_FORM_BYTES} bytes")]
    TooLarge,
    #[error("the form could not be read")]
    Unreadable,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        if body.len() > MAX_FORM_BYTES {
            return Err(FormError::TooLarge);
        }
        serde_urlencoded::from_bytes(body)
            .map(Self)
            .map_err(|_| FormError::Unreadable)
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
    }

    /// The first value of a field, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim())
    }

    /// A non-empty value.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// A checkbox: present (with any value but "off") when ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v != "off" && v != "false")
    }
}

impl Form {
    /// The fields as the settings form would post them for `settings` (what the form shows when it opens).
    pub fn from_settings(settings: &Settings) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: String| pairs.push((k.to_owned(), v));
        put("consent_option", option_value(settings.consent_option).to_owned());
        put("terms_url", settings.terms_url.clone().unwrap_or_default());
        put("privacy_url", settings.privacy_url.clone().unwrap_or_default());
        for (name, on) in [
            ("require_consent_confirmed", settings.require_consent_confirmed),
            ("inferred_acknowledged", settings.inferred_acknowledged),
            ("sync_contacts", settings.sync_contacts),
            ("us_double_opt_in", settings.us_double_opt_in),
        ] {
            if on {
                put(name, "on".to_owned());
            }
        }
        put("subscriber_group", settings.subscriber_group.clone());
        put("customer_group", settings.customer_group.clone());
        put("brand_name", settings.brand_name.clone());
        put("help_contact", settings.help_contact.clone());
        put("mailing_address", settings.mailing_address.clone().unwrap_or_default());
        put("sender_id", settings.sender_id.clone().unwrap_or_default());
        let reminders = &settings.reminders;
        put("first_delay_minutes", reminders.first_delay_minutes.to_string());
        put("max_steps", reminders.max_steps.to_string());
        for (i, name) in ["step2_delay_hours", "step3_delay_hours"].into_iter().enumerate() {
            let hours = reminders.later_step_delays_hours.get(i);
            put(name, hours.map(u32::to_string).unwrap_or_default());
        }
        put(
            "coupon_promotion_id",
            reminders
                .coupon_promotion_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        );
        put("smart_sending_hours", settings.smart_sending_hours.to_string());
        put(
            "quiet_start",
            settings
                .quiet_hours
                .map(|q| q.start_hour.to_string())
                .unwrap_or_default(),
        );
        put(
            "quiet_end",
            settings.quiet_hours.map(|q| q.end_hour.to_string()).unwrap_or_default(),
        );
        Self(pairs)
    }

    /// The consent option the fields choose, if they name one.
    pub fn consent_option(&self) -> Option<ConsentOption> {
        parse_option(self.get("consent_option"))
    }
}

pub fn option_value(option: ConsentOption) -> &'static str {
    match option {
        ConsentOption::SmsCheckbox => "sms_checkbox",
        ConsentOption::GeneralMarketing => "general_marketing",
        ConsentOption::Inferred => "inferred",
    }
}

fn parse_option(value: Option<&str>) -> Option<ConsentOption> {
    [
        ConsentOption::SmsCheckbox,
        ConsentOption::GeneralMarketing,
        ConsentOption::Inferred,
    ]
    .into_iter()
    .find(|o| Some(option_value(*o)) == value)
}

/// A phone-number sender loses its spaces, dashes and brackets (`+1 (212) 555-0100` → `+12125550100`), so
/// replies addressed to it find the store.
fn normalise_sender(value: &str) -> String {
    if value.starts_with('+') {
        value
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
            .collect()
    } else {
        value.to_owned()
    }
}

/// Builds the settings the form asks for on top of `base` (the settings in force, or the defaults): fields
/// the form does not show (message template, throughput, default send window) are kept. Every problem is
/// reported, not just the first.
pub fn settings_from_form(
    form: &Form,
    base: &Settings,
    saved_by: MerchantUser,
    now: DateTime<Utc>,
) -> Result<Settings, Vec<SettingsProblem>> {
    let mut problems = Vec::new();
    let mut number = |field: &'static str, what: &str| -> Option<u32> {
        match form.get(field).map(str::parse::<u32>) {
            Some(Ok(value)) => Some(value),
            _ => {
                problems.push(SettingsProblem::new(field, format!("Enter {what} as a whole number.")));
                None
            }
        }
    };
    let first_delay = number("first_delay_minutes", "the first reminder's delay in minutes");
    let max_steps = number("max_steps", "the number of reminders");
    let smart_sending = number("smart_sending_hours", "the smart-sending window in hours");
    let steps = max_steps.unwrap_or(1);
    let step2 = (steps >= 2).then(|| number("step2_delay_hours", "the second reminder's delay in hours"));
    let step3 = (steps >= 3).then(|| number("step3_delay_hours", "the third reminder's delay in hours"));
    let quiet_hours = match (form.text("quiet_start"), form.text("quiet_end")) {
        (None, None) => None,
        (Some(start), Some(end)) => match (start.parse::<u8>(), end.parse::<u8>()) {
            (Ok(start_hour), Ok(end_hour)) => Some(QuietHours { start_hour, end_hour }),
            _ => {
                problems.push(SettingsProblem::new(
                    "quiet_hours",
                    "Enter the send hours as whole hours (e.g. 9 and 20).",
                ));
                None
            }
        },
        _ => {
            problems.push(SettingsProblem::new(
                "quiet_hours",
                "Enter both the first and the last send hour, or leave both empty.",
            ));
            None
        }
    };
    let coupon_promotion_id = match form.text("coupon_promotion_id").map(str::parse::<u64>) {
        None => Ok(None),
        Some(Ok(id)) => Ok(Some(id)),
        Some(Err(_)) => {
            problems.push(SettingsProblem::new(
                "coupon_promotion_id",
                "Choose one of your coupon promotions, or no unique codes.",
            ));
            Err(())
        }
    };
    let consent_option = parse_option(form.get("consent_option"));
    if consent_option.is_none() {
        problems.push(SettingsProblem::new(
            "consent_option",
            "Choose how SMS marketing consent is obtained.",
        ));
    }

    let mut settings = base.clone();
    settings.saved_at = now;
    settings.saved_by = saved_by;
    settings.consent_option = consent_option.unwrap_or(base.consent_option);
    settings.terms_url = form.text("terms_url").map(str::to_owned);
    settings.privacy_url = form.text("privacy_url").map(str::to_owned);
    settings.require_consent_confirmed = form.checked("require_consent_confirmed");
    settings.inferred_acknowledged = form.checked("inferred_acknowledged");
    settings.sync_contacts = form.checked("sync_contacts");
    settings.subscriber_group = form.get("subscriber_group").unwrap_or_default().to_owned();
    settings.customer_group = form.get("customer_group").unwrap_or_default().to_owned();
    settings.brand_name = form.get("brand_name").unwrap_or_default().to_owned();
    settings.help_contact = form.get("help_contact").unwrap_or_default().to_owned();
    settings.mailing_address = form.text("mailing_address").map(str::to_owned);
    settings.sender_id = form.text("sender_id").map(normalise_sender);
    settings.us_double_opt_in = form.checked("us_double_opt_in");
    settings.quiet_hours = quiet_hours;
    if let Some(minutes) = first_delay {
        settings.reminders.first_delay_minutes = minutes;
    }
    if let Some(steps) = max_steps {
        settings.reminders.max_steps = u8::try_from(steps).unwrap_or(u8::MAX);
    }
    // Delays of steps not chosen keep their previous values, so raising the count later starts from them.
    let mut later = settings.reminders.later_step_delays_hours.clone();
    later.resize(2, 0);
    for (i, value) in [step2, step3].into_iter().enumerate() {
        if let Some(Some(hours)) = value {
            later[i] = hours;
        }
    }
    later.retain(|hours| *hours > 0);
    settings.reminders.later_step_delays_hours = later;
    if let Ok(id) = coupon_promotion_id {
        settings.reminders.coupon_promotion_id = id;
    }
    if let Some(hours) = smart_sending {
        settings.smart_sending_hours = hours;
    }
    settings.disclosure_version = settings
        .disclosure()
        .and_then(Result::ok)
        .map(|disclosure| disclosure.version);

    let mut seen: Vec<&'static str> = problems.iter().map(|p| p.field).collect();
    for problem in settings.problems() {
        // A field that did not parse is not also reported as out of range.
        if !seen.contains(&problem.field) {
            seen.push(problem.field);
            problems.push(problem);
        }
    }
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Settings {
        let user = MerchantUser {
            id: 1,
            email: "owner@example.com".into(),
        };
        Settings::defaults(user, "Acme", DateTime::from_timestamp(1_700_000_000, 0).unwrap())
    }

    fn complete() -> Vec<(&'static str, &'static str)> {
        vec![
            ("consent_option", "sms_checkbox"),
            ("terms_url", " https://acme.example.com/terms "),
            ("privacy_url", "https://acme.example.com/privacy"),
            ("sync_contacts", "on"),
            ("subscriber_group", "Store subscribers"),
            ("customer_group", "Store customers"),
            ("brand_name", "Acme Outfitters"),
            ("help_contact", "help@acme.example.com"),
            ("sender_id", "+1 (212) 555-0100"),
            ("first_delay_minutes", "45"),
            ("max_steps", "2"),
            ("step2_delay_hours", "24"),
            ("step3_delay_hours", "not shown for two steps"),
            ("smart_sending_hours", "24"),
            ("quiet_start", "9"),
            ("quiet_end", "20"),
            ("us_double_opt_in", "on"),
        ]
    }

    fn user() -> MerchantUser {
        MerchantUser {
            id: 7,
            email: "staff@example.com".into(),
        }
    }

    #[test]
    fn a_complete_form_becomes_settings() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let settings = settings_from_form(&Form::from_pairs(complete()), &base(), user(), now).unwrap();
        assert_eq!(settings.consent_option, ConsentOption::SmsCheckbox);
        assert_eq!(settings.terms_url.as_deref(), Some("https://acme.example.com/terms"));
        assert_eq!(settings.sender_id.as_deref(), Some("+12125550100"));
        assert_eq!(settings.reminders.first_delay_minutes, 45);
        assert_eq!(settings.reminders.max_steps, 2);
        assert_eq!(settings.reminders.later_step_delays_hours, vec![24, 48]);
        assert_eq!(
            settings.quiet_hours,
            Some(QuietHours {
                start_hour: 9,
                end_hour: 20
            })
        );
        assert_eq!(settings.saved_by, user());
        assert_eq!(settings.saved_at, now);
        let disclosure = settings.disclosure().unwrap().unwrap();
        assert_eq!(settings.disclosure_version, Some(disclosure.version));
        // Kept from the base: the form does not show them.
        assert_eq!(settings.reminders.template, base().reminders.template);
    }

    #[test]
    fn the_form_of_saved_settings_gives_them_back() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let saved = settings_from_form(&Form::from_pairs(complete()), &base(), user(), now).unwrap();
        let again = settings_from_form(&Form::from_settings(&saved), &saved, user(), now).unwrap();
        assert_eq!(again, saved);
    }

    #[test]
    fn unticked_boxes_are_off_and_other_options_have_no_disclosure() {
        let mut pairs = complete();
        pairs.retain(|(k, _)| !matches!(*k, "sync_contacts" | "us_double_opt_in"));
        pairs[0] = ("consent_option", "inferred");
        pairs.push(("inferred_acknowledged", "on"));
        let settings = settings_from_form(&Form::from_pairs(pairs), &base(), user(), Utc::now()).unwrap();
        assert!(!settings.sync_contacts);
        assert!(!settings.us_double_opt_in);
        assert!(settings.inferred_acknowledged);
        assert_eq!(settings.disclosure_version, None);
    }

    #[test]
    fn every_problem_is_reported_once() {
        let mut pairs = complete();
        pairs.retain(|(k, _)| !matches!(*k, "terms_url" | "privacy_url"));
        pairs.push(("terms_url", ""));
        for (k, v) in pairs.iter_mut() {
            if *k == "first_delay_minutes" {
                *v = "soon";
            }
            if *k == "quiet_end" {
                *v = "";
            }
        }
        let problems = settings_from_form(&Form::from_pairs(pairs), &base(), user(), Utc::now()).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            vec!["first_delay_minutes", "quiet_hours", "terms_url", "privacy_url"]
        );
    }

    #[test]
    fn an_unknown_option_is_a_problem() {
        let mut pairs = complete();
        pairs[0] = ("consent_option", "everyone");
        let problems = settings_from_form(&Form::from_pairs(pairs), &base(), user(), Utc::now()).unwrap_err();
        assert_eq!(problems[0].field, "consent_option");
    }

    #[test]
    fn bodies_are_limited_and_decoded() {
        assert_eq!(
            Form::parse(&vec![b'a'; MAX_FORM_BYTES + 1]).unwrap_err(),
            FormError::TooLarge
        );
        let form = Form::parse(b"brand_name=Acme+%26+Co&x=1").unwrap();
        assert_eq!(form.get("brand_name"), Some("Acme & Co"));
        assert!(!form.checked("missing"));
    }
}
