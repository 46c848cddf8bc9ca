//! Phone numbers as the app keeps them: E.164, validated, mobile-capable. Parse, don't validate: a
//! [`Phone`] can only exist if it is a number an SMS could reach.

use phonenumber::{Mode, PhoneNumber, Type, country};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A valid, SMS-capable phone number in E.164 form (`+12125551234`).
///
/// `Display` and `Debug` mask the middle digits so a phone never reaches a log line in full; use
/// [`Phone::as_e164`] where the whole number is needed (a provider API call, a DynamoDB key).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPhone {
    #[error("the phone number is empty")]
    Empty,
    #[error("the phone number could not be read as a phone number")]
    Unparseable,
    #[error("the phone number is not a valid number for its country")]
    NotValid,
    #[error("the phone number cannot receive text messages (it is a {0} number)")]
    NotMobile(&'static str),
    #[error("unknown country code hint {0:?}")]
    UnknownCountryHint(String),
}

impl Phone {
    /// Parses what a shopper or merchant typed. `country_hint` is an ISO 3166 alpha-2 code (the billing
    /// address country, the store's country) used when the input has no `+` country prefix.
    pub fn parse(input: &str, country_hint: Option<&str>) -> Result<Self, InvalidPhone> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InvalidPhone::Empty);
        }
        let hint = match country_hint.map(str::trim).filter(|h| !h.is_empty()) {
            Some(code) => Some(
                country::Id::from_str(&code.to_ascii_uppercase())
                    .map_err(|_| InvalidPhone::UnknownCountryHint(code.to_owned()))?,
            ),
            None => None,
        };
        let number = match phonenumber::parse(hint, trimmed) {
            Ok(number) => number,
            // A bare international number without "+" (e.g. "447911123456") and no usable hint.
            Err(_) if !trimmed.starts_with('+') => {
                phonenumber::parse(None, format!("+{trimmed}")).map_err(|_| InvalidPhone::Unparseable)?
            }
            Err(_) => return Err(InvalidPhone::Unparseable),
        };
        Self::from_number(&number)
    }

    /// Parses a number that must already be in E.164 form (our own stored values, provider webhooks).
    pub fn from_e164(value: &str) -> Result<Self, InvalidPhone> {
        if !value.starts_with('+') {
            return Err(InvalidPhone::Unparseable);
        }
        Self::parse(value, None)
    }

    fn from_number(number: &PhoneNumber) -> Result<Self, InvalidPhone> {
        if !phonenumber::is_valid(number) {
            return Err(InvalidPhone::NotValid);
        }
        match number.number_type(&phonenumber::metadata::DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile | Type::PersonalNumber | Type::Voip => {}
            Type::FixedLine => return Err(InvalidPhone::NotMobile("landline")),
            Type::TollFree => return Err(InvalidPhone::NotMobile("toll-free")),
            Type::PremiumRate => return Err(InvalidPhone::NotMobile("premium-rate")),
            Type::SharedCost => return Err(InvalidPhone::NotMobile("shared-cost")),
            Type::Pager => return Err(InvalidPhone::NotMobile("pager")),
            Type::Uan => return Err(InvalidPhone::NotMobile("company")),
            Type::Voicemail => return Err(InvalidPhone::NotMobile("voicemail")),
            _ => return Err(InvalidPhone::NotMobile("unknown-type")),
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    /// The full number, for provider calls and storage keys. Never log it.
    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The country the number belongs to (ISO 3166 alpha-2), e.g. `"US"`, `"CA"`, `"AU"`, `"GB"`.
    pub fn country(&self) -> Option<String> {
        phonenumber::parse(None, &self.0)
            .ok()?
            .country()
            .id()
            .map(|id| id.as_ref().to_owned())
    }

    /// The international calling code, e.g. 1 for the NANP (US, Canada and the Caribbean).
    pub fn calling_code(&self) -> u16 {
        phonenumber::parse(None, &self.0).map(|n| n.code().value()).unwrap_or(0)
    }

    /// The NANP area code (`"212"` for `+12125551234`), for numbers with calling code 1.
    pub fn nanp_area_code(&self) -> Option<&str> {
        self.0
            .strip_prefix("+1")
            .filter(|rest| rest.len() == 10)
            .map(|rest| &rest[..3])
    }

    /// The number with its middle digits hidden (`+12*******34`): safe for logs and merchant-facing lists.
    pub fn masked(&self) -> String {
        let digits = &self.0[1..];
        let keep_start = 2.min(digits.len());
        let keep_end = 2.min(digits.len().saturating_sub(keep_start));
        let hidden = digits.len() - keep_start - keep_end;
        format!(
            "+{}{}{}",
            &digits[..keep_start],
            "*".repeat(hidden),
            &digits[digits.len() - keep_end..]
        )
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl TryFrom<String> for Phone {
    type Error = InvalidPhone;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::from_e164(&value)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_the_formats_shoppers_type() {
        let cases = [
            ("(212) 201-4567", Some("US"), "+12122014567"),
            ("12125685555", Some("US"), "+12125685555"),
            ("+44 7911 123456", None, "+447911123456"),
            ("0412 345 678", Some("AU"), "+61412345678"),
            ("+1 (416) 555-0199", Some("GB"), "+14165550199"),
            ("447911123456", None, "+447911123456"),
        ];
        for (input, hint, expected) in cases {
            assert_eq!(
                Phone::parse(input, hint).map(|p| p.as_e164().to_owned()),
                Ok(expected.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn rejects_numbers_that_cannot_receive_sms() {
        // BigCommerce's own sample number: 555 is not a valid area code.
        assert_eq!(Phone::parse("555-123-4567", Some("US")), Err(InvalidPhone::NotValid));
        assert_eq!(Phone::parse("", Some("US")), Err(InvalidPhone::Empty));
        assert_eq!(Phone::parse("call me", Some("US")), Err(InvalidPhone::Unparseable));
        // An Australian landline and a UK freephone number.
        assert_eq!(
            Phone::parse("(02) 9374 4000", Some("AU")),
            Err(InvalidPhone::NotMobile("landline"))
        );
        assert_eq!(
            Phone::parse("0800 890 567", Some("GB")),
            Err(InvalidPhone::NotMobile("toll-free"))
        );
        assert!(matches!(
            Phone::parse("123", Some("ZZ")),
            Err(InvalidPhone::UnknownCountryHint(_))
        ));
    }

    #[test]
    fn country_and_area_code() {
        let us = Phone::parse("(212) 201-4567", Some("US")).unwrap();
        assert_eq!(us.country().as_deref(), Some("US"));
        assert_eq!(us.nanp_area_code(), Some("212"));
        assert_eq!(us.calling_code(), 1);
        let ca = Phone::parse("416 555 0199", Some("CA")).unwrap();
        assert_eq!(ca.country().as_deref(), Some("CA"));
        let au = Phone::parse("0412 345 678", Some("AU")).unwrap();
        assert_eq!(au.country().as_deref(), Some("AU"));
        assert_eq!(au.nanp_area_code(), None);
    }

    #[test]
    fn display_and_debug_mask_the_number() {
        let phone = Phone::parse("+12122014567", None).unwrap();
        assert_eq!(phone.to_string(), "+12*******67");
        assert!(!format!("{phone:?}").contains("2014"));
    }

    #[test]
    fn serde_round_trips_e164_and_rejects_junk() {
        let phone = Phone::parse("+447911123456", None).unwrap();
        let json = serde_json::to_string(&phone).unwrap();
        assert_eq!(json, "\"+447911123456\"");
        assert_eq!(serde_json::from_str::<Phone>(&json).unwrap(), phone);
        assert!(serde_json::from_str::<Phone>("\"07911123456\"").is_err());
    }
}
