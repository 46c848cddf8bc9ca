//! What a message may say: brand and opt-out in every marketing text, SHAFT screening, and how many SMS
//! segments a text costs.
//!
//! Sources: every commercial message identifies the sender and carries a functional unsubscribe (CASL R-CA-1
//! and R-CA-3, Spam Act R-AU-2 and R-AU-3, PECR soft opt-in R-UK-2(c) "in every subsequent message", CTIA
//! R-CTIA-4 brand identifier; MessageMedia seed: "add an opt-out to all your messages"); SHAFT content (sex,
//! hate, alcohol, firearms, tobacco, plus cannabis/CBD/delta-8 and vaping, which carriers reject outright:
//! R-CTIA-4 and the us-cart-abandonment seed); GSM 03.38 and UCS-2 segment sizes (160/153 and 70/67).
//!
//! SHAFT screening is a word list, deliberately broad: a false positive only leaves a product name out of a
//! reminder or sends a template back for review; a miss gets the sender filtered or suspended.

use super::text::{contains_phrase, normalize, padded};
use crate::model::Settings;
use serde::{Deserialize, Serialize};

/// The opt-out instruction appended to marketing texts.
pub const OPT_OUT_INSTRUCTION: &str = "Reply STOP to opt out";

/// A SHAFT category (plus the two carriers add for cart messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShaftCategory {
    Sex,
    Hate,
    Alcohol,
    Firearms,
    Tobacco,
    Cannabis,
    Vaping,
}

impl ShaftCategory {
    pub fn code(self) -> &'static str {
        match self {
            Self::Sex => "sex",
            Self::Hate => "hate",
            Self::Alcohol => "alcohol",
            Self::Firearms => "firearms",
            Self::Tobacco => "tobacco",
            Self::Cannabis => "cannabis",
            Self::Vaping => "vaping",
        }
    }
}

/// One restricted term found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShaftHit {
    pub category: ShaftCategory,
    pub term: &'static str,
}

/// Terms per category, normalised (lower case, no accents, single spaces). Text and terms are compared with
/// a trailing plural "s" stripped from every word, so "guns" matches "gun". Words that are mostly innocent in
/// product names ("nude" lipstick, "bullet" journal, "scotch" tape, "sake", prices like "420") are left out.
const SHAFT_TERMS: &[(ShaftCategory, &[&str])] = &[
    (
        ShaftCategory::Sex,
        &[
            "sex",
            "sexy",
            "sexual",
            "porn",
            "porno",
            "pornography",
            "xxx",
            "nsfw",
            "erotic",
            "erotica",
            "nudes",
            "fetish",
            "bdsm",
            "dildo",
            "vibrator",
            "sex toy",
            "adult toy",
            "escort",
            "orgasm",
            "horny",
            "camgirl",
            "onlyfans",
        ],
    ),
    (
        // Slurs are not listed here (we will not ship them in source); hate symbols and slogans are. A
        // maintained moderation list should extend this (left open).
        ShaftCategory::Hate,
        &[
            "white power",
            "white supremacy",
            "white pride",
            "heil hitler",
            "sieg heil",
            "kkk",
            "nazi",
            "neo nazi",
            "swastika",
            "hate speech",
            "ethnic cleansing",
        ],
    ),
    (
        ShaftCategory::Alcohol,
        &[
            "alcohol",
            "alcoholic",
            "beer",
            "wine",
            "vodka",
            "whiskey",
            "whisky",
            "bourbon",
            "rum",
            "gin",
            "tequila",
            "mezcal",
            "brandy",
            "cognac",
            "champagne",
            "prosecco",
            "liquor",
            "liqueur",
            "distilled spirits",
            "hard seltzer",
            "hard cider",
            "soju",
            "lager",
            "ale",
            "ipa",
            "mead",
            "sangria",
            "merlot",
            "chardonnay",
            "cabernet",
            "pinot",
            "sauvignon",
            "riesling",
            "rose wine",
            "brewery",
            "winery",
            "distillery",
            "booze",
            "absinthe",
            "schnapps",
        ],
    ),
    (
        ShaftCategory::Firearms,
        &[
            "gun",
            "firearm",
            "rifle",
            "pistol",
            "handgun",
            "shotgun",
            "revolver",
            "ammo",
            "ammunition",
            "ar 15",
            "ar15",
            "ak 47",
            "ak47",
            "glock",
            "suppressor",
            "silencer",
            "holster",
            "tactical",
            "gunpowder",
            "9mm",
            "22lr",
            "12 gauge",
            "firing pin",
            "lower receiver",
        ],
    ),
    (
        ShaftCategory::Tobacco,
        &[
            "tobacco",
            "cigarette",
            "cigar",
            "cigarillo",
            "nicotine",
            "snus",
            "hookah",
            "shisha",
            "rolling paper",
            "chewing tobacco",
            "pipe tobacco",
            "zyn",
            "nicotine pouch",
        ],
    ),
    (
        ShaftCategory::Cannabis,
        &[
            "cannabis",
            "marijuana",
            "weed",
            "thc",
            "thca",
            "cbd",
            "cbn",
            "hemp",
            "delta 8",
            "delta8",
            "d8",
            "delta 9",
            "delta9",
            "delta 10",
            "hhc",
            "ganja",
            "kush",
            "dispensary",
            "pre roll",
            "preroll",
            "edible gummies",
            "cannabinoid",
        ],
    ),
    (
        ShaftCategory::Vaping,
        &[
            "vape",
            "vaping",
            "vaporizer",
            "vaporiser",
            "e cig",
            "ecig",
            "e cigarette",
            "ecigarette",
            "e liquid",
            "eliquid",
            "e juice",
            "ejuice",
            "juul",
            "vape pen",
            "disposable vape",
            "nic salt",
            "salt nic",
            "elf bar",
            "elfbar",
        ],
    ),
];

/// Every SHAFT term in a text (rendered message, template, or product name), in category order.
pub fn screen_shaft(text: &str) -> Vec<ShaftHit> {
    let words = padded(&singular_words(text));
    let mut hits = Vec::new();
    for (category, terms) in SHAFT_TERMS {
        for term in *terms {
            if contains_phrase(&words, &singular_words(term)) {
                hits.push(ShaftHit {
                    category: *category,
                    term,
                });
            }
        }
    }
    hits
}

/// Whether a product name must be left out of a message: it names SHAFT content. The reminder then speaks of
/// "your cart" or "your items" instead.
pub fn must_omit_product_name(name: &str) -> bool {
    !screen_shaft(name).is_empty()
}

/// Text with each word's trailing plural "s" removed ("guns" → "gun", "wines" → "wine").
fn singular_words(text: &str) -> String {
    normalize(text).split(' ').map(singular).collect::<Vec<_>>().join(" ")
}

fn singular(word: &str) -> &str {
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        &word[..word.len() - 1]
    } else {
        word
    }
}

/// Something wrong with a marketing text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "problem")]
pub enum ContentProblem {
    /// The brand is not named.
    MissingBrand,
    /// The text does not end with an opt-out instruction such as "Reply STOP to opt out".
    MissingOptOutInstruction,
    /// SHAFT content.
    Shaft { category: ShaftCategory, term: String },
    /// Empty text.
    Empty,
}

impl ContentProblem {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingBrand => "missing_brand",
            Self::MissingOptOutInstruction => "missing_opt_out_instruction",
            Self::Shaft { .. } => "shaft_content",
            Self::Empty => "empty",
        }
    }
}

/// The review of one marketing text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReview {
    /// Empty: the text may be sent (as far as its content goes).
    pub problems: Vec<ContentProblem>,
    pub segments: SegmentCount,
}

impl MessageReview {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reviews a rendered marketing text (or a template): brand named, ends with an opt-out instruction, no
/// SHAFT content; and counts its segments.
pub fn review_marketing_message(text: &str, brand: &str) -> MessageReview {
    let mut problems = Vec::new();
    let words = padded(text);
    if words.trim().is_empty() {
        problems.push(ContentProblem::Empty);
    }
    let brand_words = normalize(brand);
    if brand_words.is_empty() || !contains_phrase(&words, &brand_words) {
        problems.push(ContentProblem::MissingBrand);
    }
    if !ends_with_opt_out_instruction(text) {
        problems.push(ContentProblem::MissingOptOutInstruction);
    }
    problems.extend(screen_shaft(text).into_iter().map(|hit| ContentProblem::Shaft {
        category: hit.category,
        term: hit.term.to_owned(),
    }));
    MessageReview {
        problems,
        segments: count_segments(text),
    }
}

/// Whether the last sentence of a text is an opt-out instruction: "Reply STOP to opt out", "Text STOP to
/// unsubscribe", "Txt STOP to end", "Opt out: reply STOP", "STOP to cancel".
pub fn ends_with_opt_out_instruction(text: &str) -> bool {
    let trimmed = text.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '.' | '!'));
    // The last sentence: after the last sentence break or line break.
    let last = trimmed
        .rfind(['\n', '.', '!', '?'])
        .map_or(trimmed, |i| &trimmed[i + 1..]);
    let last = normalize(last);
    const ENDINGS: &[&str] = &[
        "reply stop to opt out",
        "reply stop to optout",
        "reply stop to unsubscribe",
        "reply stop to cancel",
        "reply stop to end",
        "reply stop to stop",
        "text stop to opt out",
        "text stop to unsubscribe",
        "text stop to cancel",
        "txt stop to opt out",
        "txt stop to end",
        "stop to opt out",
        "stop to unsubscribe",
        "stop to cancel",
        "stop to end",
        "opt out reply stop",
        "unsubscribe reply stop",
        "reply stop",
        "opt out stop",
    ];
    ENDINGS.iter().any(|e| last == *e || last.ends_with(&format!(" {e}")))
}

/// Appends the opt-out instruction unless the text already ends with one.
pub fn with_opt_out_instruction(text: &str) -> String {
    if ends_with_opt_out_instruction(text) {
        return text.to_owned();
    }
    let body = text.trim_end();
    let sep = if body.is_empty() || body.ends_with(['.', '!', '?']) {
        " "
    } else {
        ". "
    };
    format!("{body}{sep}{OPT_OUT_INSTRUCTION}").trim_start().to_owned()
}

/// The reply to HELP (R-CTIA-3: brand, customer-care contact, opt-out). No marketing.
pub fn help_reply(brand: &str, help_contact: &str) -> String {
    let contact = help_contact.trim();
    if contact.is_empty() {
        format!("{brand}: for help, reply with your question. Msg & data rates may apply. {OPT_OUT_INSTRUCTION}.")
    } else {
        format!("{brand}: for help contact {contact}. Msg & data rates may apply. {OPT_OUT_INSTRUCTION}.")
    }
}

/// The single opt-out confirmation (R-US-2: confirms only, no marketing, may say how to opt back in).
pub fn opt_out_confirmation(brand: &str) -> String {
    format!("{brand}: you are unsubscribed and will receive no more messages. Reply START to resubscribe.")
}

/// The disclosure every consent text carries after its first sentence (R-CTIA-1, R-CTIA-2, R-CTIA-5; 47 CFR
/// 64.1200(f)(9): consent is not a condition of purchase): frequency, rates, HELP and STOP, Terms and Privacy
/// links. A store without the links gets texts without them, which [`super::validate_disclosure`] reports
/// and the engine will not send as a double opt-in request.
fn program_disclosure(settings: &Settings) -> String {
    let link = |label: &str, url: &Option<String>| match url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => format!(" {label}: {url}"),
        None => String::new(),
    };
    format!(
        "Consent not a condition of purchase. Msg frequency varies. Msg & data rates may apply. HELP for help, STOP \
         to cancel.{}{}",
        link("Terms", &settings.terms_url),
        link("Privacy", &settings.privacy_url)
    )
}

/// The double opt-in request (R-CTIA-5: names the programme incl. shopping cart reminders; with the full
/// disclosure, since its YES is the written consent US cart reminders rest on). Its text is kept in the
/// ledger's `DoubleOptInRequested` event.
pub fn double_opt_in_request(settings: &Settings) -> String {
    format!(
        "{}: Reply YES for recurring automated marketing texts incl. cart reminders. {}",
        settings.brand_name.trim(),
        program_disclosure(settings)
    )
}

/// The confirmation of a keyword opt-in (R-CTIA-2: brand, programme, frequency, rates, HELP and STOP; with
/// the full disclosure like every consent text).
pub fn opt_in_confirmation(settings: &Settings) -> String {
    format!(
        "{}: You're subscribed to recurring automated marketing texts incl. cart reminders. {}",
        settings.brand_name.trim(),
        program_disclosure(settings)
    )
}

/// The answer to a YES that confirmed a double opt-in request.
pub fn double_opt_in_confirmed(settings: &Settings) -> String {
    format!(
        "{}: Thanks, you're confirmed for recurring automated marketing texts incl. cart reminders. {}",
        settings.brand_name.trim(),
        program_disclosure(settings)
    )
}

/// The character set a text needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// GSM 03.38 7-bit default alphabet (with its extension table).
    Gsm7,
    /// Anything else: UCS-2 (UTF-16 code units).
    Ucs2,
}

impl Encoding {
    /// How the settings page names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Gsm7 => "GSM-7",
            Self::Ucs2 => "UCS-2 (Unicode)",
        }
    }
}

/// What a text costs to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SegmentCount {
    pub encoding: Encoding,
    /// Septets (GSM-7, extension characters count two) or UTF-16 code units (UCS-2).
    pub units: usize,
    /// Billable SMS segments: one up to 160 septets / 70 units, else 153 / 67 per segment.
    pub segments: usize,
}

/// The GSM 03.38 basic character set (one septet each).
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                          ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table (escape + character: two septets each).
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

/// Septets a character takes in GSM-7, or `None` if it needs UCS-2.
fn gsm7_septets(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// The encoding a text needs.
pub fn encoding_of(text: &str) -> Encoding {
    if text.chars().all(|c| gsm7_septets(c).is_some()) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Counts segments exactly: a GSM-7 escape pair or a UTF-16 surrogate pair is never split across segments.
pub fn count_segments(text: &str) -> SegmentCount {
    let encoding = encoding_of(text);
    let (single, multi) = match encoding {
        Encoding::Gsm7 => (160, 153),
        Encoding::Ucs2 => (70, 67),
    };
    let sizes = text.chars().map(|c| match encoding {
        Encoding::Gsm7 => gsm7_septets(c).unwrap_or(1),
        Encoding::Ucs2 => c.len_utf16(),
    });
    let units: usize = sizes.clone().sum();
    let segments = if units == 0 {
        0
    } else if units <= single {
        1
    } else {
        let mut segments = 1;
        let mut used = 0;
        for size in sizes {
            if used + size > multi {
                segments += 1;
                used = 0;
            }
            used += size;
        }
        segments
    };
    SegmentCount {
        encoding,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_marketing_message_names_the_brand_and_ends_with_opt_out() {
        let ok = "Acme: you left 2 items in your cart. Complete your order: https://acme.example/r/abc. Reply STOP to opt out";
        assert!(review_marketing_message(ok, "Acme").is_ok());
        assert!(review_marketing_message(&format!("{ok}."), "acme").is_ok());

        let no_brand = review_marketing_message("You left items. Reply STOP to opt out", "Acme");
        assert_eq!(no_brand.problems, vec![ContentProblem::MissingBrand]);

        let opt_out_not_last =
            review_marketing_message("Acme: Reply STOP to opt out. You left items in your cart!", "Acme");
        assert_eq!(
            opt_out_not_last.problems,
            vec![ContentProblem::MissingOptOutInstruction]
        );

        let empty = review_marketing_message("  ", "Acme");
        assert_eq!(
            empty.problems,
            vec![
                ContentProblem::Empty,
                ContentProblem::MissingBrand,
                ContentProblem::MissingOptOutInstruction
            ]
        );
    }

    #[test]
    fn accepted_opt_out_endings() {
        for text in [
            "Acme: hi. Reply STOP to opt out",
            "Acme: hi. Text STOP to unsubscribe.",
            "Acme: hi\nReply STOP to cancel",
            "Acme: hi. Opt out: reply STOP",
            "Acme: hi, STOP to end",
            "Acme: hi. Reply stop to opt-out!",
        ] {
            assert!(ends_with_opt_out_instruction(text), "{text:?}");
        }
        for text in ["Acme: hi", "Acme: don't stop now", "Acme: stop by our store today"] {
            assert!(!ends_with_opt_out_instruction(text), "{text:?}");
        }
    }

    #[test]
    fn with_opt_out_instruction_appends_once() {
        assert_eq!(
            with_opt_out_instruction("Acme: your cart is waiting"),
            "Acme: your cart is waiting. Reply STOP to opt out"
        );
        assert_eq!(
            with_opt_out_instruction("Acme: your cart is waiting!"),
            "Acme: your cart is waiting! Reply STOP to opt out"
        );
        let once = with_opt_out_instruction("Acme: hi");
        assert_eq!(with_opt_out_instruction(&once), once);
    }

    #[test]
    fn shaft_screening_finds_each_category() {
        let cases = [
            ("Sexy lingerie set", ShaftCategory::Sex),
            ("Join the white power rally", ShaftCategory::Hate),
            ("Cabernet Sauvignon 750ml", ShaftCategory::Alcohol),
            ("Craft Beers Sampler", ShaftCategory::Alcohol),
            ("Tactical holster for Glock 19", ShaftCategory::Firearms),
            ("9mm ammo, 50 rounds", ShaftCategory::Firearms),
            ("Premium Cigars box", ShaftCategory::Tobacco),
            ("Full-spectrum CBD oil", ShaftCategory::Cannabis),
            ("Delta-8 gummies", ShaftCategory::Cannabis),
            ("Disposable vape, mango", ShaftCategory::Vaping),
            ("E-Liquid 60ml", ShaftCategory::Vaping),
        ];
        for (text, category) in cases {
            let hits = screen_shaft(text);
            assert!(hits.iter().any(|h| h.category == category), "{text:?} → {hits:?}");
            assert!(must_omit_product_name(text), "{text:?}");
        }
    }

    #[test]
    fn shaft_screening_matches_words_not_substrings() {
        for text in [
            "Ginger tea",
            "Gunmetal grey jacket",
            "Sussex cotton tee",
            "Alexander bag",
            "Running shoes",
            "Winter boots",
            "Thermal beanie",
        ] {
            assert_eq!(screen_shaft(text), vec![], "{text:?}");
            assert!(!must_omit_product_name(text), "{text:?}");
        }
    }

    #[test]
    fn shaft_content_in_a_rendered_message_is_a_problem() {
        let review = review_marketing_message(
            "Acme: your Bourbon Barrel Ale is waiting. Reply STOP to opt out",
            "Acme",
        );
        assert!(!review.is_ok());
        assert!(review.problems.iter().all(|p| p.code() == "shaft_content"));
        assert!(review.problems.contains(&ContentProblem::Shaft {
            category: ShaftCategory::Alcohol,
            term: "bourbon".to_owned()
        }));
    }

    #[test]
    fn canned_texts_pass_their_own_checks() {
        let doi = double_opt_in_request(&linked_settings("Acme", TERMS, PRIVACY));
        assert!(doi.contains("cart reminders") && doi.contains("YES"));
        assert!(doi.contains("Msg & data rates may apply") && doi.contains("STOP"));
        let help = help_reply("Acme", "help@acme.example");
        assert!(help.starts_with("Acme") && help.contains("help@acme.example"));
        assert!(ends_with_opt_out_instruction(&help));
        let confirmation = opt_out_confirmation("Acme");
        assert!(confirmation.contains("unsubscribed") && confirmation.contains("START"));
        assert_eq!(screen_shaft(&confirmation), vec![]);
    }

    #[test]
    fn gsm7_segments() {
        let count = |s: &str| count_segments(s);
        assert_eq!(count("").segments, 0);
        assert_eq!(count("Hello").encoding, Encoding::Gsm7);
        assert_eq!(count(&"a".repeat(160)).segments, 1);
        assert_eq!(count(&"a".repeat(161)).segments, 2);
        assert_eq!(count(&"a".repeat(306)).segments, 2);
        assert_eq!(count(&"a".repeat(307)).segments, 3);
        // Extension characters take two septets.
        let euro = count(&"€".repeat(80));
        assert_eq!((euro.encoding, euro.units, euro.segments), (Encoding::Gsm7, 160, 1));
        assert_eq!(count(&"€".repeat(81)).segments, 2);
        // An escape pair is not split: 152 'a' + '€' needs a second segment's first two septets.
        let s = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        assert_eq!(count(&s).units, 164);
        assert_eq!(count(&s).segments, 2);
        let s = format!("{}€{}", "a".repeat(152), "a".repeat(152));
        assert_eq!(count(&s).units, 306);
        assert_eq!(count(&s).segments, 3);
        // Accented letters in the GSM alphabet stay GSM-7; others switch to UCS-2.
        assert_eq!(encoding_of("Café Ñandú"), Encoding::Ucs2); // 'á' and 'ú' are not GSM-7
        assert_eq!(encoding_of("Café Ñoño"), Encoding::Gsm7);
    }

    #[test]
    fn ucs2_segments() {
        assert_eq!(count_segments("Hi 😀").encoding, Encoding::Ucs2);
        assert_eq!(count_segments(&"ç".repeat(70)).encoding, Encoding::Ucs2); // Ç is GSM-7, ç is not
        assert_eq!(count_segments(&"ą".repeat(70)).segments, 1);
        assert_eq!(count_segments(&"ą".repeat(71)).segments, 2);
        assert_eq!(count_segments(&"ą".repeat(134)).segments, 2);
        assert_eq!(count_segments(&"ą".repeat(135)).segments, 3);
        // Emoji are two UTF-16 units and never split.
        let emoji = count_segments(&"😀".repeat(35));
        assert_eq!((emoji.units, emoji.segments), (70, 1));
        let s = format!("{}😀{}", "ą".repeat(66), "ą".repeat(66));
        assert_eq!(count_segments(&s).units, 134);
        assert_eq!(count_segments(&s).segments, 3);
    }

    const TERMS: &str = "https://acme.example.com/terms";
    const PRIVACY: &str = "https://acme.example.com/privacy";

    fn linked_settings(brand: &str, terms: &str, privacy: &str) -> Settings {
        let user = crate::model::MerchantUser {
            id: 1,
            email: "owner@acme.example.com".into(),
        };
        let mut s = Settings::defaults(user, brand, chrono::DateTime::UNIX_EPOCH);
        s.terms_url = Some(terms.to_owned());
        s.privacy_url = Some(privacy.to_owned());
        s
    }

    fn consent_texts(s: &Settings) -> [String; 3] {
        [
            double_opt_in_request(s),
            opt_in_confirmation(s),
            double_opt_in_confirmed(s),
        ]
    }

    #[test]
    fn every_consent_text_carries_the_full_disclosure() {
        let s = linked_settings("Acme Outfitters", TERMS, PRIVACY);
        for text in consent_texts(&s) {
            assert_eq!(
                super::super::validate_disclosure(&text, "Acme Outfitters"),
                vec![],
                "{text}"
            );
            assert!(text.starts_with("Acme Outfitters: "), "{text}");
            assert!(text.contains(TERMS) && text.contains(PRIVACY), "{text}");
            assert_eq!(screen_shaft(&text), vec![], "{text}");
            let count = count_segments(&text);
            assert_eq!((count.encoding, count.segments), (Encoding::Gsm7, 2), "{text}");
        }
        // Without the links the texts say so by failing the same check.
        let mut unlinked = s.clone();
        unlinked.terms_url = None;
        unlinked.privacy_url = Some("  ".into());
        for text in consent_texts(&unlinked) {
            assert_eq!(
                super::super::validate_disclosure(&text, "Acme Outfitters"),
                vec![
                    super::super::MissingElement::TermsLink,
                    super::super::MissingElement::PrivacyLink
                ],
                "{text}"
            );
        }
    }

    proptest! {
        /// Whatever the brand (as settings allow it) and links, each consent text is complete.
        #[test]
        fn consent_texts_are_complete_for_any_brand_and_links(
            brand in "[A-Za-z][A-Za-z0-9 &'.-]{0,38}[A-Za-z0-9]",
            host in "[a-z]{1,20}\\.[a-z]{2,6}",
            path in "[a-z0-9/_-]{0,30}",
        ) {
            let terms = format!("https://{host}/{path}terms");
            let privacy = format!("https://{host}/{path}privacy");
            let s = linked_settings(&brand, &terms, &privacy);
            for text in consent_texts(&s) {
                prop_assert_eq!(super::super::validate_disclosure(&text, &brand), vec![], "{}", text);
            }
        }

        /// Segment count is monotone in length and matches the closed form when no pair can straddle.
        #[test]
        fn segment_counts_follow_the_sizes(n in 0usize..700) {
            let gsm = count_segments(&"a".repeat(n));
            let expected = if n == 0 { 0 } else if n <= 160 { 1 } else { n.div_ceil(153) };
            prop_assert_eq!(gsm.segments, expected);
            let ucs = count_segments(&"ą".repeat(n));
            let expected = if n == 0 { 0 } else if n <= 70 { 1 } else { n.div_ceil(67) };
            prop_assert_eq!(ucs.segments, expected);
        }
    }
}
