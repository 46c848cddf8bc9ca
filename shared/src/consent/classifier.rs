//! What an inbound text means: opt-out, opt-in (START, UNSTOP, YES), HELP, or anything else.
//!
//! Sources: FCC 24-18 / 47 CFR 64.1200(a)(10)-(12) (sms-rules R-US-2): a reply containing "stop", "quit",
//! "end", "revoke", "opt out", "cancel" or "unsubscribe" revokes per se, and any other wording a reasonable
//! person would read as revocation must be honoured, with a rebuttable presumption for the consumer; Twilio's
//! defaults add STOPALL and OPTOUT, and START/YES/UNSTOP, HELP/INFO (sms-rules §2.2); CASL and Québec
//! practice add French ("ARRÊT"); the FCC names "no más" as an example of other-language intent.
//!
//! The asymmetry is deliberate. A missed opt-out is a TCPA violation per message; a false one costs a
//! reminder and the confirmation text tells the person how to opt back in. So:
//! - opt-out: any opt-out word or phrase *anywhere* in the text wins over everything else, including when the
//!   sentence is ambiguous or negated ("don't stop", "can you stop by?", "I'll cancel my order" are opt-outs),
//!   and a one-word reply one typo away from STOP/UNSUBSCRIBE/CANCEL/... counts too;
//! - opt-in: only the whole message being START, UNSTOP or YES (any case, spacing, punctuation) counts, because
//!   consent must be unambiguous ("yes please", "start over" are not opt-ins);
//! - help: HELP or INFO anywhere (a HELP reply is harmless and required, R-CTIA-3).

use super::ledger::OptInKeyword;
use super::text::{contains_phrase, normalize};
use serde::{Deserialize, Serialize};

/// The meaning of an inbound text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "intent", content = "keyword")]
pub enum ReplyIntent {
    OptOut,
    /// START, UNSTOP or YES. A YES confirms a pending double opt-in; the reply handler asks the ledger fold
    /// ([`super::ConsentState::double_opt_in_pending`]).
    OptIn(OptInKeyword),
    Help,
    Other,
}

/// How the text matched, for the evidence kept with an opt-out and for reviewers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    /// The whole message is the keyword.
    WholeMessage,
    /// An opt-out/help word or phrase inside a longer text.
    WordInText,
    /// A one-word reply within a typo of an opt-out keyword.
    Misspelling,
    /// Nothing matched.
    NoMatch,
}

/// A classified reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Classification {
    pub intent: ReplyIntent,
    pub rule: MatchRule,
    /// The word or phrase that decided (normalised), if any.
    pub matched: Option<&'static str>,
}

/// Opt-out words that count anywhere in a message (whole words).
const OPT_OUT_WORDS: &[&str] = &[
    // FCC per-se list, CTIA standard list, Twilio defaults.
    "stop",
    "stopall",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
    // Common variants.
    "unsub",
    "unsubscribed",
    "unsubscribing",
    "cancelled",
    "canceled",
    // French (CASL / Québec), Spanish, Italian/Portuguese.
    "arret",
    "arreter",
    "arrete",
    "desabonner",
    "desinscrire",
    "cancelar",
    "baja",
    "basta",
    "detener",
];

/// Opt-out phrases that count anywhere (normalised: no apostrophes, single spaces).
const OPT_OUT_PHRASES: &[&str] = &[
    "opt out",
    "opt me out",
    "stop all",
    "take me off",
    "remove me",
    "remove my number",
    "delete my number",
    "no more texts",
    "no more text",
    "no more texting",
    "no more messages",
    "no more msgs",
    "no more sms",
    "no mas",
    "dont text",
    "do not text",
    "dont message",
    "do not message",
    "dont contact",
    "do not contact",
    "leave me alone",
    "wrong number",
    "not interested",
];

/// Words that opt out only as the whole message (too common inside other sentences).
const OPT_OUT_ALONE: &[&str] = &["no", "remove", "alto", "parar", "fin"];

/// Keywords whose one-word misspellings still opt out, with the typo distance allowed.
const FUZZY_OPT_OUT: &[(&str, usize)] = &[
    ("stop", 1),
    ("stopall", 1),
    ("cancel", 1),
    ("revoke", 1),
    ("optout", 1),
    ("unsubscribe", 2),
];

const HELP_WORDS: &[&str] = &["help", "info", "information"];

/// Classifies an inbound text.
pub fn classify(text: &str) -> Classification {
    // The stop sign emoji is the only symbol read as a word.
    if text.contains('\u{1F6D1}') {
        return opt_out(MatchRule::WordInText, "\u{1F6D1}");
    }
    let mut normalized = normalize(text);
    if normalized.is_empty() {
        return no_match();
    }
    // "S.T.O.P." or "s t o p": letters typed apart still spell a word.
    if normalized.len() >= 5 && normalized.split(' ').all(|t| t.chars().count() == 1) {
        normalized.retain(|c| c != ' ');
    }
    let mut padded = String::with_capacity(normalized.len() + 2);
    padded.push(' ');
    padded.push_str(&normalized);
    padded.push(' ');
    let whole = |word: &str| normalized == word;

    for word in OPT_OUT_WORDS.iter().chain(OPT_OUT_PHRASES) {
        if contains_phrase(&padded, word) {
            let rule = if whole(word) {
                MatchRule::WholeMessage
            } else {
                MatchRule::WordInText
            };
            return opt_out(rule, word);
        }
    }
    if let Some(word) = OPT_OUT_ALONE.iter().find(|w| whole(w)) {
        return opt_out(MatchRule::WholeMessage, word);
    }

    for (word, keyword) in [
        ("start", OptInKeyword::Start),
        ("unstop", OptInKeyword::Unstop),
        ("yes", OptInKeyword::Yes),
    ] {
        if whole(word) {
            return Classification {
                intent: ReplyIntent::OptIn(keyword),
                rule: MatchRule::WholeMessage,
                matched: Some(word),
            };
        }
    }

    if !normalized.contains(' ') {
        for (word, distance) in FUZZY_OPT_OUT {
            if normalized.len() + 1 >= word.len() && typo_distance(&normalized, word) <= *distance {
                return opt_out(MatchRule::Misspelling, word);
            }
        }
    }

    for word in HELP_WORDS {
        if contains_phrase(&padded, word) {
            let rule = if whole(word) {
                MatchRule::WholeMessage
            } else {
                MatchRule::WordInText
            };
            return Classification {
                intent: ReplyIntent::Help,
                rule,
                matched: Some(word),
            };
        }
    }
    no_match()
}

fn opt_out(rule: MatchRule, word: &'static str) -> Classification {
    Classification {
        intent: ReplyIntent::OptOut,
        rule,
        matched: Some(word),
    }
}

fn no_match() -> Classification {
    Classification {
        intent: ReplyIntent::Other,
        rule: MatchRule::NoMatch,
        matched: None,
    }
}

/// Edit distance counting an adjacent transposition as one typo (optimal string alignment).
fn typo_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn intent(text: &str) -> ReplyIntent {
        classify(text).intent
    }

    #[test]
    fn per_se_opt_out_words_in_any_case_spacing_and_punctuation() {
        for text in [
            "stop",
            "STOP",
            "Stop.",
            " unsubscribe ",
            "STOPALL",
            "Revoke",
            "cancel",
            "END",
            "quit!",
            "opt out",
            "OPT-OUT",
            "optout",
            "Opt Out.",
            "stop all",
            "\tStop\n",
            "S.T.O.P.",
            "s t o p",
        ] {
            assert_eq!(intent(text), ReplyIntent::OptOut, "{text:?}");
        }
        assert_eq!(classify("Stop.").rule, MatchRule::WholeMessage);
        assert_eq!(classify("Stop.").matched, Some("stop"));
    }

    #[test]
    fn free_text_intent_is_an_opt_out() {
        for text in [
            "please stop texting me",
            "Remove me",
            "remove me from your list",
            "no more texts",
            "No más",
            "no mas por favor",
            "Don't text me again",
            "do not contact me",
            "take me off this list",
            "Wrong number",
            "not interested",
            "leave me alone!!",
            "ARRÊT",
            "baja",
            "No",
            "\u{1F6D1}",
        ] {
            assert_eq!(intent(text), ReplyIntent::OptOut, "{text:?}");
        }
        assert_eq!(classify("please stop texting me").rule, MatchRule::WordInText);
    }

    #[test]
    fn ambiguous_text_with_an_opt_out_word_is_an_opt_out() {
        // Documented choice: the FCC presumes the consumer's intent, so these revoke.
        for text in [
            "don't stop",
            "Can you stop by the store?",
            "I'll cancel my order",
            "the end",
            "yes stop",
            "STOP HELP",
            "help, how do i unsubscribe",
        ] {
            assert_eq!(intent(text), ReplyIntent::OptOut, "{text:?}");
        }
    }

    #[test]
    fn words_inside_other_words_do_not_count() {
        for text in [
            "send it this weekend",
            "I love the stopper",
            "the tendon",
            "quite nice",
            "nobody home",
        ] {
            assert_eq!(intent(text), ReplyIntent::Other, "{text:?}");
        }
    }

    #[test]
    fn one_word_typos_of_opt_out_keywords_are_opt_outs() {
        // A one-word "top" or "shop" also reads as STOP: the presumption favours the consumer.
        for text in [
            "stpo",
            "sotp",
            "stopp",
            "Stoop",
            "top",
            "shop",
            "unsubcribe",
            "unsubscibe",
            "cancle",
            "optuot",
        ] {
            let c = classify(text);
            assert_eq!(c.intent, ReplyIntent::OptOut, "{text:?}");
            assert_eq!(c.rule, MatchRule::Misspelling, "{text:?}");
        }
        // A typo inside a sentence is not guessed at, and START/UNSTOP are not typos of STOP.
        assert_eq!(intent("pls stpo it"), ReplyIntent::Other);
        assert_eq!(intent("unstop"), ReplyIntent::OptIn(OptInKeyword::Unstop));
    }

    #[test]
    fn opt_in_keywords_only_as_the_whole_message() {
        assert_eq!(intent("START"), ReplyIntent::OptIn(OptInKeyword::Start));
        assert_eq!(intent(" start. "), ReplyIntent::OptIn(OptInKeyword::Start));
        assert_eq!(intent("Unstop"), ReplyIntent::OptIn(OptInKeyword::Unstop));
        assert_eq!(intent("YES"), ReplyIntent::OptIn(OptInKeyword::Yes));
        assert_eq!(intent("yes!"), ReplyIntent::OptIn(OptInKeyword::Yes));
        for text in ["yes please", "start over", "Yes I want it", "yess", "y"] {
            assert_eq!(intent(text), ReplyIntent::Other, "{text:?}");
        }
    }

    #[test]
    fn help_and_info() {
        assert_eq!(intent("HELP"), ReplyIntent::Help);
        assert_eq!(intent("info"), ReplyIntent::Help);
        assert_eq!(intent("I need help with my order"), ReplyIntent::Help);
        assert_eq!(classify("help").rule, MatchRule::WholeMessage);
        assert_eq!(intent("helpful, thanks"), ReplyIntent::Other);
    }

    #[test]
    fn everything_else_is_other() {
        for text in ["", "   ", "thanks!", "What size is it?", "no thanks"] {
            assert_eq!(intent(text), ReplyIntent::Other, "{text:?}");
        }
    }

    #[test]
    fn typo_distance_counts_transpositions_once() {
        assert_eq!(typo_distance("stop", "stop"), 0);
        assert_eq!(typo_distance("sotp", "stop"), 1);
        assert_eq!(typo_distance("stp", "stop"), 1);
        assert_eq!(typo_distance("spot", "stop"), 2);
        assert_eq!(typo_distance("unsubscribe", "unsub"), 3);
    }

    proptest! {
        /// Any text with STOP as a word is an opt-out, whatever surrounds it.
        #[test]
        fn stop_anywhere_is_an_opt_out(
            before in "[a-zA-Z ,.!?]{0,30}",
            after in "[a-zA-Z ,.!?]{0,30}",
            stop in prop::sample::select(vec!["STOP", "stop", "Stop", "sToP"]),
        ) {
            let text = format!("{before} {stop} {after}");
            prop_assert_eq!(intent(&text), ReplyIntent::OptOut);
        }

        /// Classification never panics and depends only on words, not case or spacing.
        #[test]
        fn case_and_spacing_do_not_matter(text in "[ -~]{0,40}") {
            let spaced = format!("  {}  ", text.to_uppercase());
            let lower = classify(&text.to_lowercase()).intent;
            prop_assert_eq!(classify(&spaced).intent, lower);
        }
    }
}
