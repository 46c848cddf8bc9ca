//! Text normalisation shared by the reply classifier, the content checks and the disclosure validator:
//! people type "STOP.", " Stop ", "opt-out", "no más"; the rules match words, not bytes.

/// Lower-cases, drops the accents of Latin letters, joins apostrophes ("don't" → "dont") and turns every
/// other non-alphanumeric run into one space. The result has no leading or trailing space.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '`') {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            for lower in c.to_lowercase() {
                out.push(strip_accent(lower));
            }
        } else {
            pending_space = true;
        }
    }
    out
}

/// `" normalised text "`: padded so that `contains(" word ")` matches whole words only.
pub(crate) fn padded(text: &str) -> String {
    let normalized = normalize(text);
    let mut out = String::with_capacity(normalized.len() + 2);
    out.push(' ');
    out.push_str(&normalized);
    out.push(' ');
    out
}

/// Whether `padded` (from [`padded`]) contains `phrase` (already normalised) as whole words.
pub(crate) fn contains_phrase(padded: &str, phrase: &str) -> bool {
    let bytes = padded.as_bytes();
    let mut from = 0;
    while let Some(pos) = padded[from..].find(phrase) {
        let start = from + pos;
        let end = start + phrase.len();
        if start > 0 && bytes[start - 1] == b' ' && end < bytes.len() && bytes[end] == b' ' {
            return true;
        }
        from = start + 1;
        while !padded.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

fn strip_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_accents_punctuation_and_spacing() {
        assert_eq!(normalize("  STOP. "), "stop");
        assert_eq!(normalize("No   MÁS!!"), "no mas");
        assert_eq!(normalize("don't text me"), "dont text me");
        assert_eq!(normalize("Opt-Out"), "opt out");
        assert_eq!(normalize("e-cig\tDelta-8"), "e cig delta 8");
        assert_eq!(normalize("...!"), "");
    }

    #[test]
    fn phrases_match_whole_words_only() {
        let text = padded("Send it this weekend, please stop.");
        assert!(contains_phrase(&text, "stop"));
        assert!(contains_phrase(&text, "please stop"));
        assert!(!contains_phrase(&text, "end"));
        assert!(!contains_phrase(&text, "top"));
        assert!(contains_phrase(&padded("ñandú end"), "end"));
        let rates = padded("Msg frequency varies. Msg & data rates may apply.");
        assert!(contains_phrase(&rates, "msg data rates may apply"), "{rates}");
    }
}
