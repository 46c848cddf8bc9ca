//! The settings form: posted fields in, a settings candidate (or the problems with it) out. Parsing happens
//! here; the rules are [`Settings::problems`], in the domain crate.

use chrono::{DateTime, Utc};
use serde::de::{DeserializeOwned, value::MapDeserializer};
use serde::{Deserialize, Deserializer};
use shared::model::settings::SettingsProblem;
use shared::model::{ConsentOption, MerchantUser, QuietHours, Settings};

/// The largest form body accepted: the settings form is well under 4 KB.
pub const MAX_FORM_BYTES: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("the form is larger than {MAX_FORM_BYTES} bytes")]
    TooLarge,
    #[error("the form could not be read")]
    Unreadable,
}

/// Reads a posted `application/x-www-form-urlencoded` body into `T`, whose fields are named as the form's
/// inputs. Values are trimmed. A field posted twice makes the form unreadable: none of our forms posts one
/// twice, and picking one of the two would be a guess.
pub fn read<T: DeserializeOwned>(body: &[u8]) -> Result<T, FormError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(FormError::TooLarge);
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| FormError::Unreadable)?;
    let trimmed = pairs.into_iter().map(|(name, value)| (name, value.trim().to_owned()));
    T::deserialize(MapDeserializer::<_, serde::de::value::Error>::new(trimmed)).map_err(|_| FormError::Unreadable)
}

/// A checkbox: present (with any value but "off") when ticked, absent when not.
fn checkbox<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    let value = String::deserialize(deserializer)?;
    Ok(value != "off" && value != "false")
}

/// The settings form's fields, as posted or as the page shows them. Numbers stay text here: one that does not
/// read is a problem [`settings_from_form`] reports, and the page shows it back as it was typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SettingsForm {
    pub consent_option: String,
    pub terms_url: String,
    pub privacy_url: String,
    #[serde(deserialize_with = "checkbox")]
    pub require_consent_confirmed: bool,
    #[serde(deserialize_with = "checkbox")]
    pub inferred_acknowledged: bool,
    #[serde(deserialize_with = "checkbox")]
    pub sync_contacts: bool,
    #[serde(deserialize_with = "checkbox")]
    pub us_double_opt_in: bool,
    pub subscriber_group: String,
    pub customer_group: String,
    pub brand_name: String,
    pub help_contact: String,
    pub mailing_address: String,
    pub sender_id: String,
    pub first_delay_minutes: String,
    pub max_steps: String,
    pub step2_delay_hours: String,
    pub step3_delay_hours: String,
    pub coupon_promotion_id: String,
    pub smart_sending_hours: String,
    pub quiet_start: String,
    pub quiet_end: String,
    /// The settings version the page was opened on (a hidden field, not a setting).
    pub based_on_version: String,
}

/// An optional text field: `None` when left empty.
pub(crate) fn non_empty(value: &str) -> Option<&str> {
    Some(value).filter(|v| !v.is_empty())
}

impl SettingsForm {
    /// The fields as the settings form would post them for `settings` (what the form shows when it opens).
    pub fn from_settings(settings: &Settings) -> Self {
        let reminders = &settings.reminders;
        let later = |i: usize| {
            reminders
                .later_step_delays_hours
                .get(i)
                .map(u32::to_string)
                .unwrap_or_default()
        };
        Self {
            consent_option: option_value(settings.consent_option).to_owned(),
            terms_url: settings.terms_url.clone().unwrap_or_default(),
            privacy_url: settings.privacy_url.clone().unwrap_or_default(),
            require_consent_confirmed: settings.require_consent_confirmed,
            inferred_acknowledged: settings.inferred_acknowledged,
            sync_contacts: settings.sync_contacts,
            us_double_opt_in: settings.us_double_opt_in,
            subscriber_group: settings.subscriber_group.clone(),
            customer_group: settings.customer_group.clone(),
            brand_name: settings.brand_name.clone(),
            help_contact: settings.help_contact.clone(),
            mailing_address: settings.mailing_address.clone().unwrap_or_default(),
            sender_id: settings.sender_id.clone().unwrap_or_default(),
            first_delay_minutes: reminders.first_delay_minutes.to_string(),
            max_steps: reminders.max_steps.to_string(),
            step2_delay_hours: later(0),
            step3_delay_hours: later(1),
            coupon_promotion_id: reminders
                .coupon_promotion_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            smart_sending_hours: settings.smart_sending_hours.to_string(),
            quiet_start: settings
                .quiet_hours
                .map(|q| q.start_hour.to_string())
                .unwrap_or_default(),
            quiet_end: settings.quiet_hours.map(|q| q.end_hour.to_string()).unwrap_or_default(),
            based_on_version: String::new(),
        }
    }

    /// The consent option the fields choose, if they name one.
    pub fn consent_option(&self) -> Option<ConsentOption> {
        parse_option(&self.consent_option)
    }
}

pub fn option_value(option: ConsentOption) -> &'static str {
    match option {
        ConsentOption::SmsCheckbox => "sms_checkbox",
        ConsentOption::GeneralMarketing => "general_marketing",
        ConsentOption::Inferred => "inferred",
    }
}

fn parse_option(value: &str) -> Option<ConsentOption> {
    [
        ConsentOption::SmsCheckbox,
        ConsentOption::GeneralMarketing,
        ConsentOption::Inferred,
    ]
    .into_iter()
    .find(|o| option_value(*o) == value)
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
    form: &SettingsForm,
    base: &Settings,
    saved_by: MerchantUser,
    now: DateTime<Utc>,
) -> Result<Settings, Vec<SettingsProblem>> {
    let mut problems = Vec::new();
    let mut number = |field: &'static str, value: &str, what: &str| -> Option<u32> {
        match value.parse::<u32>() {
            Ok(value) => Some(value),
            Err(_) => {
                problems.push(SettingsProblem::new(field, format!("Enter {what} as a whole number.")));
                None
            }
        }
    };
    let first_delay = number(
        "first_delay_minutes",
        &form.first_delay_minutes,
        "the first reminder's delay in minutes",
    );
    let max_steps = number("max_steps", &form.max_steps, "the number of reminders");
    let smart_sending = number(
        "smart_sending_hours",
        &form.smart_sending_hours,
        "the smart-sending window in hours",
    );
    let steps = max_steps.unwrap_or(1);
    let step2 = (steps >= 2).then(|| {
        number(
            "step2_delay_hours",
            &form.step2_delay_hours,
            "the second reminder's delay in hours",
        )
    });
    let step3 = (steps >= 3).then(|| {
        number(
            "step3_delay_hours",
            &form.step3_delay_hours,
            "the third reminder's delay in hours",
        )
    });
    let quiet_hours = match (non_empty(&form.quiet_start), non_empty(&form.quiet_end)) {
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
    let coupon_promotion_id = match non_empty(&form.coupon_promotion_id).map(str::parse::<u64>) {
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
    let consent_option = form.consent_option();
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
    settings.terms_url = non_empty(&form.terms_url).map(str::to_owned);
    settings.privacy_url = non_empty(&form.privacy_url).map(str::to_owned);
    settings.require_consent_confirmed = form.require_consent_confirmed;
    settings.inferred_acknowledged = form.inferred_acknowledged;
    settings.sync_contacts = form.sync_contacts;
    settings.subscriber_group = form.subscriber_group.clone();
    settings.customer_group = form.customer_group.clone();
    settings.brand_name = form.brand_name.clone();
    settings.help_contact = form.help_contact.clone();
    settings.mailing_address = non_empty(&form.mailing_address).map(str::to_owned);
    settings.sender_id = non_empty(&form.sender_id).map(normalise_sender);
    settings.us_double_opt_in = form.us_double_opt_in;
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

    /// The fields as a browser posts them.
    fn form(pairs: Vec<(&str, &str)>) -> SettingsForm {
        read(serde_urlencoded::to_string(pairs).unwrap().as_bytes()).unwrap()
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
        let settings = settings_from_form(&form(complete()), &base(), user(), now).unwrap();
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
        let saved = settings_from_form(&form(complete()), &base(), user(), now).unwrap();
        let again = settings_from_form(&SettingsForm::from_settings(&saved), &saved, user(), now).unwrap();
        assert_eq!(again, saved);
    }

    #[test]
    fn unticked_boxes_are_off_and_other_options_have_no_disclosure() {
        let mut pairs = complete();
        pairs.retain(|(k, _)| !matches!(*k, "sync_contacts" | "us_double_opt_in"));
        pairs[0] = ("consent_option", "inferred");
        pairs.push(("inferred_acknowledged", "on"));
        let settings = settings_from_form(&form(pairs), &base(), user(), Utc::now()).unwrap();
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
        let problems = settings_from_form(&form(pairs), &base(), user(), Utc::now()).unwrap_err();
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
        let problems = settings_from_form(&form(pairs), &base(), user(), Utc::now()).unwrap_err();
        assert_eq!(problems[0].field, "consent_option");
    }

    #[test]
    fn bodies_are_limited_and_decoded() {
        assert_eq!(
            read::<SettingsForm>(&vec![b'a'; MAX_FORM_BYTES + 1]).unwrap_err(),
            FormError::TooLarge
        );
        let form: SettingsForm = read(b"brand_name=+Acme+%26+Co+&x=1&sync_contacts=off&us_double_opt_in=").unwrap();
        assert_eq!(form.brand_name, "Acme & Co");
        assert!(!form.sync_contacts);
        assert!(form.us_double_opt_in);
        assert!(!form.inferred_acknowledged);
    }

    #[test]
    fn a_field_posted_twice_is_refused() {
        let twice = read::<SettingsForm>(b"consent_option=inferred&brand_name=Acme&consent_option=sms_checkbox");
        assert_eq!(twice.unwrap_err(), FormError::Unreadable);
    }
}
