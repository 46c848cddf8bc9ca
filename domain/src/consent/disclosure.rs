//! The checkout checkbox disclosure: built from the brand and the merchant's Terms and Privacy URLs,
//! validated element by element, and versioned by content hash.
//!
//! Required elements (docs/consent-rules.md R-US-1, R-CTIA-1, R-CTIA-5; template modelled on Attentive's text in
//! §3.2): the brand (the seller, R-US-1); recurring automated marketing texts; cart reminders (the carrier
//! cart-reminder policy wants them named); consent is not a condition of purchase (47 CFR 64.1200(f)(9));
//! message frequency ("Msg frequency varies"); "Msg & data rates may apply"; HELP and STOP instructions;
//! links to the Terms and the Privacy Policy (MessageMedia seed: both URLs mandatory).
//!
//! The version is the first 16 hex digits of the SHA-256 of the exact text served, so the ledger can prove
//! which words a shopper agreed to, and any change to the words is a new version.

use super::text::{contains_phrase, padded};
use crate::html::escape_html;
use sha2::{Digest, Sha256};
use std::fmt;

/// A checkout disclosure ready to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disclosure {
    /// Plain text with the URLs inline: what the ledger stores as `disclosure_text`.
    pub text: String,
    /// The same words as safe HTML (every input escaped), with the two links.
    pub html: String,
    /// [`disclosure_version`] of `text`.
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    #[error("the brand name is empty")]
    EmptyBrand,
    #[error("the {which} URL must be an absolute http(s) URL without spaces or quotes")]
    InvalidUrl { which: &'static str },
}

/// One required element a disclosure text lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MissingElement {
    Brand,
    RecurringAutomatedMarketing,
    CartReminders,
    NotConditionOfPurchase,
    MessageFrequency,
    MessageAndDataRates,
    HelpInstruction,
    StopInstruction,
    TermsLink,
    PrivacyLink,
}

impl MissingElement {
    /// Stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Brand => "brand",
            Self::RecurringAutomatedMarketing => "recurring_automated_marketing",
            Self::CartReminders => "cart_reminders",
            Self::NotConditionOfPurchase => "not_condition_of_purchase",
            Self::MessageFrequency => "message_frequency",
            Self::MessageAndDataRates => "message_and_data_rates",
            Self::HelpInstruction => "help_instruction",
            Self::StopInstruction => "stop_instruction",
            Self::TermsLink => "terms_link",
            Self::PrivacyLink => "privacy_link",
        }
    }
}

impl fmt::Display for MissingElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Brand => "the brand name",
            Self::RecurringAutomatedMarketing => "that the texts are recurring automated marketing",
            Self::CartReminders => "that the texts include cart reminders",
            Self::NotConditionOfPurchase => "that consent is not a condition of purchase",
            Self::MessageFrequency => "the message frequency",
            Self::MessageAndDataRates => "\"Msg & data rates may apply\"",
            Self::HelpInstruction => "the HELP instruction",
            Self::StopInstruction => "the STOP instruction",
            Self::TermsLink => "a link to the Terms",
            Self::PrivacyLink => "a link to the Privacy Policy",
        })
    }
}

/// Builds the checkbox text for a store.
pub fn build_disclosure(brand: &str, terms_url: &str, privacy_url: &str) -> Result<Disclosure, DisclosureError> {
    let brand = brand.trim();
    if brand.is_empty() {
        return Err(DisclosureError::EmptyBrand);
    }
    let terms_url = checked_url(terms_url, "Terms")?;
    let privacy_url = checked_url(privacy_url, "Privacy Policy")?;
    let text = format!("{LEAD} {brand} {MIDDLE} Terms: {terms_url} Privacy Policy: {privacy_url}");
    let html = format!(
        "{LEAD} {brand} {MIDDLE} <a href=\"{terms}\" target=\"_blank\" rel=\"noopener noreferrer\">Terms</a> \
         &amp; <a href=\"{privacy}\" target=\"_blank\" rel=\"noopener noreferrer\">Privacy Policy</a>",
        brand = escape_html(brand),
        MIDDLE = escape_html(MIDDLE),
        terms = escape_html(terms_url),
        privacy = escape_html(privacy_url),
    );
    let version = disclosure_version(&text);
    Ok(Disclosure { text, html, version })
}

const LEAD: &str = "By checking this box, you agree to receive recurring automated marketing text messages \
                    (e.g. cart reminders) from";
const MIDDLE: &str = "at the number provided. Consent is not a condition of purchase. Msg frequency varies. \
                      Msg & data rates may apply. Reply HELP for help and STOP to cancel.";

/// Lists every required element `text` lacks (empty: complete). `brand` is the seller the texts will come
/// from; it must be named.
pub fn validate_disclosure(text: &str, brand: &str) -> Vec<MissingElement> {
    // The HTML form is checked by its words: "&amp;" reads "&".
    let decoded;
    let text = if text.contains('&') {
        decoded = unescape_html(text);
        decoded.as_str()
    } else {
        text
    };
    let words = padded(text);
    let has = |phrase: &str| contains_phrase(&words, phrase);
    let any = |phrases: &[&str]| phrases.iter().any(|p| has(p));
    let has_url = text.contains("https://") || text.contains("http://");
    let brand_words = padded(brand);
    let brand_words = brand_words.trim();

    let mut missing = Vec::new();
    if brand_words.is_empty() || !has(brand_words) {
        missing.push(MissingElement::Brand);
    }
    if !(has("recurring") && has("automated") && has("marketing")) {
        missing.push(MissingElement::RecurringAutomatedMarketing);
    }
    if !any(&[
        "cart reminders",
        "cart reminder",
        "shopping cart reminders",
        "abandoned cart",
    ]) {
        missing.push(MissingElement::CartReminders);
    }
    if !any(&[
        "not a condition of purchase",
        "not a condition of any purchase",
        "not required to purchase",
        "not required to make a purchase",
    ]) {
        missing.push(MissingElement::NotConditionOfPurchase);
    }
    if !(any(&["frequency varies", "msg frequency", "message frequency"]) || has_msgs_per_period(&words)) {
        missing.push(MissingElement::MessageFrequency);
    }
    // "&" is dropped by normalisation: "Msg & data rates" reads "msg data rates".
    if !any(&[
        "msg data rates may apply",
        "msg and data rates may apply",
        "message and data rates may apply",
        "message data rates may apply",
    ]) {
        missing.push(MissingElement::MessageAndDataRates);
    }
    if !any(&["reply help", "text help", "help for help"]) {
        missing.push(MissingElement::HelpInstruction);
    }
    if !any(&[
        "stop to cancel",
        "stop to opt out",
        "stop to unsubscribe",
        "reply stop",
        "text stop",
    ]) {
        missing.push(MissingElement::StopInstruction);
    }
    if !(has("terms") && has_url) {
        missing.push(MissingElement::TermsLink);
    }
    if !(has("privacy") && has_url) {
        missing.push(MissingElement::PrivacyLink);
    }
    missing
}

/// "up to 4 msgs/mo" style frequency statements.
fn has_msgs_per_period(words: &str) -> bool {
    words.contains(" up to ") && (words.contains(" msgs ") || words.contains(" messages "))
}

/// The version of a disclosure text: the first 16 hex digits of its SHA-256.
pub fn disclosure_version(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    hex::encode(&digest[..8])
}

fn checked_url<'u>(url: &'u str, which: &'static str) -> Result<&'u str, DisclosureError> {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`'));
    if ok {
        Ok(url)
    } else {
        Err(DisclosureError::InvalidUrl { which })
    }
}

fn unescape_html(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TERMS: &str = "https://shop.example/legal/a";
    const PRIVACY: &str = "https://shop.example/legal/b";

    #[test]
    fn built_disclosure_is_complete_and_names_everything() {
        let d = build_disclosure("Acme Outdoors", TERMS, PRIVACY).unwrap();
        assert_eq!(validate_disclosure(&d.text, "Acme Outdoors"), vec![]);
        assert_eq!(validate_disclosure(&d.html, "Acme Outdoors"), vec![]);
        assert!(
            d.text
                .contains("recurring automated marketing text messages (e.g. cart reminders)")
        );
        assert!(d.text.contains("Consent is not a condition of purchase."));
        assert!(d.text.contains("Msg & data rates may apply."));
        assert!(d.text.contains(TERMS) && d.text.contains(PRIVACY));
        assert_eq!(d.version, disclosure_version(&d.text));
        assert_eq!(d.version.len(), 16);
    }

    #[test]
    fn html_escapes_brand_and_urls() {
        let d = build_disclosure(
            "<script>alert(1)</script> & Co",
            "https://shop.example/terms?a=1&b=2",
            PRIVACY,
        )
        .unwrap();
        assert!(!d.html.contains("<script>"));
        assert!(d.html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co"));
        assert!(d.html.contains("href=\"https://shop.example/terms?a=1&amp;b=2\""));
        assert!(d.html.contains("Msg &amp; data rates may apply."));
    }

    #[test]
    fn rejects_unsafe_or_missing_inputs() {
        assert_eq!(build_disclosure("  ", TERMS, PRIVACY), Err(DisclosureError::EmptyBrand));
        for bad in [
            "javascript:alert(1)",
            "shop.example/terms",
            "https://",
            "https://x/\" onmouseover=\"x",
            "https://shop.example/a b",
            "",
        ] {
            assert_eq!(
                build_disclosure("Acme", bad, PRIVACY),
                Err(DisclosureError::InvalidUrl { which: "Terms" }),
                "{bad}"
            );
        }
        assert_eq!(
            build_disclosure("Acme", TERMS, "ftp://x"),
            Err(DisclosureError::InvalidUrl {
                which: "Privacy Policy"
            })
        );
    }

    #[test]
    fn validator_lists_every_missing_element() {
        assert_eq!(
            validate_disclosure("Sign me up for texts!", "Acme"),
            vec![
                MissingElement::Brand,
                MissingElement::RecurringAutomatedMarketing,
                MissingElement::CartReminders,
                MissingElement::NotConditionOfPurchase,
                MissingElement::MessageFrequency,
                MissingElement::MessageAndDataRates,
                MissingElement::HelpInstruction,
                MissingElement::StopInstruction,
                MissingElement::TermsLink,
                MissingElement::PrivacyLink,
            ]
        );
        let full = build_disclosure("Acme", TERMS, PRIVACY).unwrap().text;
        // Each removal is caught on its own.
        let cases = [
            ("Acme", "Acme Outdoors", MissingElement::Brand),
            ("(e.g. cart reminders) ", "", MissingElement::CartReminders),
            (
                "Consent is not a condition of purchase. ",
                "",
                MissingElement::NotConditionOfPurchase,
            ),
            ("Msg frequency varies. ", "", MissingElement::MessageFrequency),
            ("Msg & data rates may apply. ", "", MissingElement::MessageAndDataRates),
            ("Reply HELP for help and ", "Reply ", MissingElement::HelpInstruction),
            ("STOP to cancel", "nothing", MissingElement::StopInstruction),
            ("recurring ", "", MissingElement::RecurringAutomatedMarketing),
            ("Terms: ", "", MissingElement::TermsLink),
            ("Privacy Policy: ", "", MissingElement::PrivacyLink),
        ];
        for (from, to, element) in cases {
            let text = full.replacen(from, to, 1);
            let brand = if element == MissingElement::Brand {
                "Zenith"
            } else {
                "Acme"
            };
            assert_eq!(validate_disclosure(&text, brand), vec![element], "{from}");
        }
        // No URL at all: both links missing.
        let no_urls = full.replace(TERMS, "our site").replace(PRIVACY, "our site");
        assert_eq!(
            validate_disclosure(&no_urls, "Acme"),
            vec![MissingElement::TermsLink, MissingElement::PrivacyLink]
        );
    }

    #[test]
    fn brand_must_match_as_words() {
        let d = build_disclosure("Acme", TERMS, PRIVACY).unwrap();
        assert_eq!(validate_disclosure(&d.text, "acme"), vec![]);
        assert_eq!(validate_disclosure(&d.text, "Acm"), vec![MissingElement::Brand]);
        assert_eq!(validate_disclosure(&d.text, ""), vec![MissingElement::Brand]);
    }

    #[test]
    fn version_changes_with_any_word() {
        let a = build_disclosure("Acme", TERMS, PRIVACY).unwrap();
        let b = build_disclosure("Acme", TERMS, "https://shop.example/privacy-v2").unwrap();
        assert_ne!(a.version, b.version);
        assert_eq!(a.version, build_disclosure("Acme", TERMS, PRIVACY).unwrap().version);
        assert!(a.version.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
