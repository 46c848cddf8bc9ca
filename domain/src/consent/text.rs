//! Text normalisation shared by the reply classifier, the content checks and the disclosure validator:
//! people type "STOP.", " Stop ", "opt-out", "no más", "ＳＴＯＰ" (a CJK keyboard's fullwidth letters),
//! "𝐒𝐓𝐎𝐏" (a "font" app's styled letters) or "S\u{200B}TOP" (a keyboard's zero-width space); the rules match
//! words, not bytes.

use unicode_normalization::UnicodeNormalization;

/// Lower-cases, folds compatibility characters (Unicode NFKC: fullwidth, mathematical, circled and other
/// styled letters become plain ones), removes format characters (zero-width spaces and joiners, soft hyphens,
/// direction marks: they are invisible, so they must not split a word), drops accents and the overlay marks
/// of "strikethrough" fonts, joins apostrophes ("don't" → "dont") and turns every other non-alphanumeric
/// run into one space. The result has no leading or trailing space.
pub(crate) fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        // ASCII is already NFKC and has no format characters: the common case costs no extra pass.
        push_words(&mut out, text.chars());
    } else {
        // Apostrophe look-alikes go before NFKC, which would turn U+00B4 into a space and an accent.
        push_words(
            &mut out,
            text.chars().filter(|&c| !is_apostrophe(c) && !is_format(c)).nfkc(),
        );
    }
    out
}

fn push_words(out: &mut String, chars: impl Iterator<Item = char>) {
    let mut pending_space = false;
    for c in chars {
        if is_apostrophe(c) || is_combining_mark(c) {
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
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '`' | '\u{2019}' | '\u{2018}' | '\u{00B4}' | '\u{02BC}')
}

/// Unicode general category Cf (format characters), as of Unicode 16.
fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Accents left after NFKC (no precomposed letter) and the strike-through or underline overlays that "font"
/// apps put after each letter (U+0336 in "s̶t̶o̶p̶"): part of the letter, not a word break.
fn is_combining_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{20D0}'..='\u{20FF}')
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
    fn folds_compatibility_characters_and_drops_format_characters() {
        // Fullwidth (CJK keyboards), mathematical bold and script, circled letters (font apps).
        assert_eq!(normalize("\u{FF33}\u{FF34}\u{FF2F}\u{FF30}\u{FF01}"), "stop");
        assert_eq!(normalize("\u{1D412}\u{1D413}\u{1D40E}\u{1D40F}"), "stop");
        assert_eq!(
            normalize("\u{1D4C8}\u{1D4C9}\u{1D45C}\u{1D45D} texting"),
            "stop texting"
        );
        assert_eq!(normalize("\u{24C8}\u{24C9}\u{24C4}\u{24C5}"), "stop");
        // Zero-width space, joiner, word joiner, BOM, soft hyphen, direction marks: invisible, not breaks.
        assert_eq!(normalize("S\u{200B}T\u{200D}O\u{2060}P\u{FEFF}"), "stop");
        assert_eq!(normalize("un\u{00AD}sub\u{00AD}scribe"), "unsubscribe");
        assert_eq!(normalize("\u{200F}stop\u{200E}"), "stop");
        // Strike-through letters, decomposed accents, the ligature fi, odd apostrophes.
        assert_eq!(normalize("s\u{0336}t\u{0336}o\u{0336}p\u{0336}"), "stop");
        assert_eq!(normalize("ARRE\u{0302}T"), "arret");
        assert_eq!(normalize("\u{FB01}n"), "fin");
        assert_eq!(normalize("don\u{00B4}t text"), "dont text");
        assert_eq!(normalize("don\u{02BC}t text"), "dont text");
        // Other scripts keep their letters.
        assert_eq!(normalize("стоп"), "стоп");
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
