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
}
