//! What an inbound text means: opt-out, opt-in (START, UNSTOP, YES), HELP, or anything else.
//!
//! Sources: FCC 24-18 / 47 CFR 64.1200(a)(10)-(12) (docs/consent-rules.md R-US-2): a reply containing "stop", "quit",
//! "end", "revoke", "opt out", "cancel" or "unsubscribe" revokes per se, and any other wording a reasonable
//! person would read as revocation must be honoured, with a rebuttable presumption for the consumer; Twilio's
//! defaults add STOPALL and OPTOUT, and START/YES/UNSTOP, HELP/INFO (docs/consent-rules.md, SMS providers); CASL and Québec
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
//!
//! Revocations in everyday words (English, French, Spanish), beyond the listed phrases:
//! - a refusal: a negation ("don't", "do not", "never", "no", "ne … plus", "no me …") a few words before a
//!   word about texting ("text", "messages", "SMS", "contact", "send me", "mensajes", "écrire"), skipping
//!   filler ("don't ever send me any more of these texts"), unless a verb in between says the sentence is
//!   about something else ("I didn't get the text with my code");
//! - an annoyed question about the texting itself ("why do you keep texting me", "how did you get my
//!   number");
//! - a typo of STOP just before a word about texting ("stpo texting me"), UNSUBSCRIBE misspelt anywhere, and
//!   stretched words ("STOPPPP", "nooo").
//!
//! The test corpus (`domain/tests/data/reply_corpus.tsv`, labelled by what the person meant) measures it:
//! recall of opt-outs must stay 100 percent; the false opt-outs it counts are the price of the asymmetry.

use super::ledger::OptInKeyword;
use super::text::normalize;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::LazyLock;

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
    /// A one-word reply within a typo of an opt-out keyword (or a typo of STOP before a word about texting).
    Misspelling,
    /// A refusal or complaint about the texting: a negation or "why ... texting" a few words before a word
    /// about texting (`matched` names that word).
    Refusal,
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

/// Opt-out words and phrases that count anywhere in a message (whole words, normalised: no accents, no
/// apostrophes, single spaces).
const OPT_OUT_ANYWHERE: &[&str] = &[
    // FCC per-se list, CTIA standard list, Twilio defaults.
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "revoke",
    "optout",
    "opt out",
    // Common variants.
    "unsub",
    "unsubscribed",
    "unsubscribing",
    "cancelled",
    "canceled",
    "opt me out",
    "opting out",
    "stahp",
    // Taking the number away.
    "remove me",
    "remove my number",
    "remove my name",
    "remove my info",
    "remove my information",
    "remove my details",
    "remove this number",
    "take me off",
    "take my number off",
    "get me off",
    "off your list",
    "off this list",
    "off the list",
    "off your mailing list",
    "delete me",
    "delete my number",
    "delete my info",
    "delete my information",
    "delete my data",
    "delete my details",
    "delete my account",
    "delete this number",
    "erase my number",
    "erase my data",
    "lose my number",
    "forget my number",
    // Not wanting them.
    "no more texts",
    "no more messages",
    "not interested",
    "no longer interested",
    "no interest",
    "i want out",
    "want out",
    "count me out",
    "im out",
    "no longer want",
    "no longer wish",
    "dont want these",
    "dont want them",
    "dont want any more",
    "do not want these",
    "do not want any more",
    "too many texts",
    "too many messages",
    "so many texts",
    "so many messages",
    "not my number",
    "enough already",
    "thats enough",
    "had enough",
    // Never agreed, wrong person, annoyed.
    "wrong number",
    "wrong person",
    "never signed up",
    "didnt sign up",
    "did not sign up",
    "never subscribed",
    "didnt subscribe",
    "did not subscribe",
    "never opted in",
    "never agreed",
    "never asked for",
    "didnt ask for",
    "did not ask for",
    "get my number",
    "got my number",
    "gave you my number",
    "have my number",
    "leave me alone",
    "leave me be",
    "go away",
    "get lost",
    "back off",
    "piss off",
    "fuck off",
    "f off",
    "spam",
    "spamming",
    "harassing",
    "harassment",
    "report you",
    "reporting you",
    "reported you",
    "reporting this",
    "block you",
    "blocking you",
    "blocking this number",
    // French (CASL / Québec).
    "arret",
    "arreter",
    "arrete",
    "arretez",
    "desabonner",
    "desabonnez",
    "desabonnement",
    "desinscrire",
    "desinscrivez",
    "desinscription",
    "retirez moi",
    "retirer mon numero",
    "retirez mon numero",
    "supprimer mon numero",
    "supprimez mon numero",
    "supprimez moi",
    "effacez mon numero",
    "laissez moi tranquille",
    "fichez moi la paix",
    "foutez moi la paix",
    "jamais inscrit",
    "jamais inscrite",
    "jamais donne mon accord",
    "cessez de",
    "cesser de",
    "pas interesse",
    "pas interessee",
    "plus interesse",
    "plus interessee",
    "ne plus recevoir",
    "mauvais numero",
    "ca suffit",
    // Spanish.
    "baja",
    "cancelar",
    "detener",
    "basta",
    "no mas",
    "dejen de",
    "deja de",
    "deje de",
    "para de",
    "paren de",
    "desuscribir",
    "desuscribirme",
    "eliminar mi numero",
    "eliminen mi numero",
    "borrar mi numero",
    "borren mi numero",
    "quitar mi numero",
    "quiten mi numero",
    "quitenme",
    "sacame",
    "saquenme",
    "dejame en paz",
    "dejenme en paz",
    "no me interesa",
    "numero equivocado",
    "equivocaron de numero",
    "nunca me suscribi",
    "dio mi numero",
];

/// Words and phrases that opt out only as the whole message (too common inside other sentences).
const OPT_OUT_ALONE: &[&str] = &[
    "no",
    "nope",
    "nah",
    "no thanks",
    "no thank you",
    "no thx",
    "no more",
    "enough",
    "remove",
    "unsubscribe me",
    "non",
    "non merci",
    "annuler",
    "fin",
    "no gracias",
    "alto",
    "parar",
    "para",
];

/// Words about being texted or contacted: a negation a few words before one is a refusal. The ones that
/// need a person after them ("send me") are in [`CONTACT_VERBS`].
const TEXTING_WORDS: &[&str] = &[
    "text",
    "texts",
    "texting",
    "txt",
    "txts",
    "txting",
    "message",
    "messages",
    "messaging",
    "msg",
    "msgs",
    "sms",
    "contact",
    "contacting",
    "spam",
    "bother",
    "bothering",
    "call",
    "calling",
    "promo",
    "promos",
    "promotions",
    "ads",
    "advertising",
    "marketing",
    "reminder",
    "reminders",
    "notifications",
    "alerts",
    "offers",
    // French
    "texto",
    "textos",
    "ecrire",
    "mecrire",
    "ecrivez",
    "mecrivez",
    "contacter",
    "contactez",
    "contacte",
    "contactee",
    "relancer",
    "relancez",
    "publicite",
    "publicites",
    "pub",
    // Spanish
    "mensaje",
    "mensajes",
    "texto",
    "escribir",
    "escriban",
    "escribas",
    "escriben",
    "molestar",
    "molesten",
    "molestes",
    "contactar",
    "contacten",
    "llamar",
    "llamen",
    "whatsapp",
    "promociones",
    "publicidad",
];

/// Sending verbs: about texting only when someone is named after them ("don't send me ...", but not "don't
/// send it yet").
const CONTACT_VERBS: &[&str] = &[
    "send", "sending", "envoyer", "envoyez", "menvoyer", "menvoyez", "enviar", "envien", "envies", "envian", "mandar",
    "manden", "mandes", "mandan",
];

/// Who a sending verb must be followed by to be about texting.
const RECIPIENTS: &[&str] = &[
    "me", "us", "any", "more", "anything", "these", "nothing", "moi", "nous", "rien", "nada", "mas",
];

/// Words that start a refusal, with how many other words may stand between them and a word about texting.
fn refusal_reach(word: &str, previous: Option<&str>) -> usize {
    match word {
        "dont" | "never" | "nunca" | "jamais" | "ne" | "nenvoyez" | "necrivez" | "cease" => 4,
        // "do not", "please not", "rather not"; not "I'm not sure the message ...".
        "not" if matches!(previous, Some("do" | "does" | "please" | "pls" | "rather")) => 4,
        // "no more texts", "no me manden mensajes", "plus de SMS": next to it, only small words between.
        "no" | "plus" | "pas" => 1,
        _ => 0,
    }
}

/// Words skipped when measuring that distance.
fn is_filler(word: &str) -> bool {
    matches!(
        word,
        "to" | "me"
            | "any"
            | "more"
            | "of"
            | "these"
            | "those"
            | "this"
            | "your"
            | "ur"
            | "the"
            | "a"
            | "an"
            | "us"
            | "again"
            | "ever"
            | "please"
            | "pls"
            | "plz"
            | "anymore"
            | "further"
            | "all"
            | "u"
            | "you"
            | "do"
            | "not"
            | "with"
            | "such"
            | "de"
            | "des"
            | "le"
            | "la"
            | "les"
            | "moi"
            | "vos"
            | "votre"
            | "ces"
            | "d"
            | "du"
            | "plus"
            | "pas"
            | "svp"
            | "jamais"
            | "nous"
            | "mas"
            | "los"
            | "las"
            | "el"
            | "sus"
            | "tus"
            | "ningun"
            | "ninguna"
            | "nada"
            | "por"
            | "favor"
            | "ya"
            | "nos"
    )
}

/// Verbs of wanting: a negated want is a refusal even with "receive" after it ("I don't want to receive").
fn is_desire(word: &str) -> bool {
    matches!(
        word,
        "want"
            | "wanna"
            | "wish"
            | "need"
            | "like"
            | "veux"
            | "voulons"
            | "souhaite"
            | "souhaitons"
            | "desire"
            | "quiero"
            | "queremos"
            | "deseo"
            | "necesito"
    )
}

/// Verbs that, negated before a word about texting, say something else than a refusal ("I didn't get the
/// text", "I don't mind the texts", "no he recibido el mensaje").
fn changes_the_subject(word: &str) -> bool {
    matches!(
        word,
        "get"
            | "got"
            | "getting"
            | "gotten"
            | "receive"
            | "received"
            | "receiving"
            | "recieve"
            | "recieved"
            | "see"
            | "saw"
            | "seen"
            | "have"
            | "had"
            | "find"
            | "found"
            | "read"
            | "know"
            | "sure"
            | "think"
            | "remember"
            | "understand"
            | "mind"
            | "miss"
            | "forget"
            | "recu"
            | "recois"
            | "recevoir"
            | "eu"
            | "trouve"
            | "vu"
            | "comprends"
            | "sais"
            | "recibi"
            | "recibido"
            | "recibir"
            | "llego"
            | "tengo"
            | "veo"
            | "vi"
            | "entiendo"
    )
}

/// Ongoing texting: "why do you keep texting me", "why are you messaging me" (and French verbs with the "me"
/// inside: "pourquoi vous m'écrivez").
const ONGOING_TEXTING: &[&str] = &[
    "texting",
    "txting",
    "messaging",
    "spamming",
    "bothering",
    "contacting",
    "calling",
    "sending",
    "emailing",
    "mecrivez",
    "menvoyez",
    "mandando",
    "enviando",
    "escribiendo",
    "molestando",
];

/// Courtesy around a whole-message refusal: "no thanks", "remove please", "non merci".
fn is_courtesy(word: &str) -> bool {
    matches!(
        word,
        "please" | "pls" | "plz" | "thanks" | "thx" | "ty" | "merci" | "svp" | "gracias"
    )
}

/// Keywords whose one-word misspellings still opt out, with the typo distance allowed.
const FUZZY_OPT_OUT: &[(&str, usize)] = &[
    ("stop", 1),
    ("stopall", 1),
    ("cancel", 1),
    ("revoke", 1),
    ("optout", 1),
    ("unsubscribe", 2),
];

/// Per-se keywords also recognised stretched ("STOPPPP", "stooop", "quiiit").
const STRETCHABLE: &[&str] = &[
    "stop",
    "end",
    "quit",
    "cancel",
    "revoke",
    "unsubscribe",
    "optout",
    "arret",
    "baja",
];

const HELP_WORDS: &[&str] = &["help", "info", "information", "aide", "ayuda", "informacion"];

/// Emoji read as words: the stop sign, no entry, prohibited.
const STOP_SIGNS: &[(char, &str)] = &[
    ('\u{1F6D1}', "\u{1F6D1}"),
    ('\u{26D4}', "\u{26D4}"),
    ('\u{1F6AB}', "\u{1F6AB}"),
];

/// Phrases indexed by their first word, built once: matching costs one hash lookup per word of the reply.
struct Lexicon {
    by_first: HashMap<&'static str, Vec<&'static str>>,
}

impl Lexicon {
    fn new(phrases: &[&'static str]) -> Self {
        let mut by_first: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for phrase in phrases {
            let first = phrase.split(' ').next().unwrap_or(phrase);
            by_first.entry(first).or_default().push(phrase);
        }
        Self { by_first }
    }

    /// The phrase starting at `words[at]`, if any.
    fn at(&self, words: &[&str], at: usize) -> Option<&'static str> {
        let candidates = self.by_first.get(words[at])?;
        candidates.iter().copied().find(|phrase| {
            let mut rest = words[at..].iter();
            phrase.split(' ').all(|w| rest.next() == Some(&w))
        })
    }
}

static OPT_OUT_LEXICON: LazyLock<Lexicon> = LazyLock::new(|| Lexicon::new(OPT_OUT_ANYWHERE));

/// Classifies an inbound text.
pub fn classify(text: &str) -> Classification {
    if !text.is_ascii()
        && let Some((_, sign)) = STOP_SIGNS.iter().find(|(c, _)| text.contains(*c))
    {
        return opt_out(MatchRule::WordInText, sign);
    }
    let mut normalized = normalize(text);
    if normalized.is_empty() {
        return no_match();
    }
    // "S.T.O.P." or "s t o p": letters typed apart still spell a word.
    if normalized.len() >= 5 && normalized.split(' ').all(|t| t.chars().count() == 1) {
        normalized.retain(|c| c != ' ');
    }
    let whole = |phrase: &str| normalized == phrase;
    let words: Vec<&str> = normalized.split(' ').collect();

    for at in 0..words.len() {
        if let Some(phrase) = OPT_OUT_LEXICON.at(&words, at) {
            let rule = if whole(phrase) {
                MatchRule::WholeMessage
            } else {
                MatchRule::WordInText
            };
            return opt_out(rule, phrase);
        }
    }
    let first = words.iter().position(|w| !is_courtesy(w)).unwrap_or(words.len());
    let last = words.iter().rposition(|w| !is_courtesy(w)).map_or(first, |i| i + 1);
    let core = &words[first..last];
    if let Some(phrase) = OPT_OUT_ALONE
        .iter()
        .copied()
        .find(|p| !core.is_empty() && p.split(' ').eq(core.iter().copied()))
    {
        return opt_out(MatchRule::WholeMessage, phrase);
    }
    if let Some(found) = refusal(&words) {
        return found;
    }
    if let Some(found) = stretched(&words) {
        return found;
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

    if let Some(found) = misspelt(&words) {
        return found;
    }

    if let Some(word) = words.iter().find_map(|w| HELP_WORDS.iter().copied().find(|h| h == w)) {
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
    no_match()
}

/// A refusal of texting or a complaint about it (see the module docs).
fn refusal(words: &[&str]) -> Option<Classification> {
    for (at, word) in words.iter().enumerate() {
        let previous = at.checked_sub(1).map(|p| words[p]);
        let (reach, tight) = match (*word, words.get(at + 1)) {
            // "no more cart reminders": "no more" refuses whatever follows.
            ("no", Some(&"more" | &"mas")) => (3, false),
            _ => {
                let reach = refusal_reach(word, previous);
                (reach, reach < 4)
            }
        };
        let found = if reach > 0 {
            negated_texting(&words[at + 1..], reach, tight)
        } else if matches!(
            *word,
            "keep" | "keeps" | "still" | "siguen" | "sigue" | "sigues" | "continuan"
        ) {
            ongoing_texting(&words[at + 1..], 1)
        } else if matches!(*word, "why" | "pourquoi") {
            ongoing_texting(&words[at + 1..], 3)
        } else {
            None
        };
        if found.is_some() {
            return found.map(|w| opt_out(MatchRule::Refusal, w));
        }
    }
    None
}

/// After a negation: the first word about texting within `reach` other words. `tight`: only the smallest
/// words are skipped ("no more texts" but not "no, the message said ...").
fn negated_texting(after: &[&str], reach: usize, tight: bool) -> Option<&'static str> {
    let mut left = reach;
    let mut wanted = false;
    for (i, word) in after.iter().enumerate() {
        if let Some(texting) = texting_word(after, i) {
            return Some(texting);
        }
        let skipped = if tight {
            matches!(
                *word,
                "more" | "mas" | "me" | "de" | "d" | "any" | "further" | "nos" | "plus"
            )
        } else {
            is_filler(word)
        };
        if is_desire(word) {
            wanted = true;
        } else if changes_the_subject(word) && !wanted {
            return None;
        } else if !skipped && !changes_the_subject(word) && !CONTACT_VERBS.contains(word) {
            left -= 1;
            if left == 0 {
                return None;
            }
        }
    }
    None
}

/// "keep texting", "why are you messaging me", "why do you text me".
fn ongoing_texting(after: &[&str], reach: usize) -> Option<&'static str> {
    let mut left = reach + 1;
    // "why do I keep getting these texts"
    let mut receiving = false;
    for (i, word) in after.iter().enumerate() {
        if let Some(ongoing) = ONGOING_TEXTING.iter().find(|w| *w == word) {
            return Some(ongoing);
        }
        let to_me = receiving || after.get(i + 1) == Some(&"me");
        if let Some(texting) = texting_word(after, i).filter(|_| to_me) {
            return Some(texting);
        }
        if matches!(*word, "getting" | "receiving") {
            receiving = true;
        } else if !is_filler(word) {
            left -= 1;
            if left == 0 {
                return None;
            }
        }
    }
    None
}

/// `words[at]` as a word about texting: one of [`TEXTING_WORDS`], or a sending verb followed by a recipient.
fn texting_word(words: &[&str], at: usize) -> Option<&'static str> {
    let word = words[at];
    if let Some(found) = TEXTING_WORDS.iter().find(|w| **w == word) {
        return Some(found);
    }
    let verb = CONTACT_VERBS.iter().find(|w| **w == word)?;
    let next = words.get(at + 1)?;
    RECIPIENTS.contains(next).then_some(verb)
}

/// A per-se keyword with letters held down ("STOPPPP", "quiiit") anywhere, or a stretched whole-message
/// refusal ("nooo", "nopeee").
fn stretched(words: &[&str]) -> Option<Classification> {
    for word in words {
        if let Some(keyword) = STRETCHABLE.iter().find(|k| squeezes_to(word, k)) {
            return Some(opt_out(MatchRule::Misspelling, keyword));
        }
    }
    if let [word] = words {
        let keyword = ["no", "nope", "nah", "non"]
            .into_iter()
            .find(|k| squeezes_to(word, k))?;
        return Some(opt_out(MatchRule::Misspelling, keyword));
    }
    None
}

/// Whether `word` is `keyword` with some letters repeated (and at least one letter repeated).
fn squeezes_to(word: &str, keyword: &str) -> bool {
    if word.len() <= keyword.len() || word.as_bytes()[0] != keyword.as_bytes()[0] {
        return false;
    }
    let mut expected = keyword.bytes().peekable();
    let mut last = None;
    for b in word.bytes() {
        if expected.peek() == Some(&b) {
            expected.next();
            last = Some(b);
        } else if last != Some(b) {
            return false;
        }
    }
    expected.peek().is_none()
}

/// Typos: a one-word reply within a typo of an opt-out keyword; UNSUBSCRIBE misspelt anywhere (no other word
/// is that close to it); a typo of STOP just before a word about texting ("stpo texting me").
fn misspelt(words: &[&str]) -> Option<Classification> {
    if let [word] = words {
        for (keyword, distance) in FUZZY_OPT_OUT {
            if word.len() + 1 >= keyword.len() && typo_distance(word, keyword) <= *distance {
                return Some(opt_out(MatchRule::Misspelling, keyword));
            }
        }
        return None;
    }
    for (at, word) in words.iter().enumerate() {
        let len = word.len();
        if (9..=13).contains(&len) && word.starts_with('u') && typo_distance(word, "unsubscribe") <= 2 {
            return Some(opt_out(MatchRule::Misspelling, "unsubscribe"));
        }
        if (3..=5).contains(&len)
            && at + 1 < words.len()
            && texting_word(words, at + 1).is_some()
            && typo_distance(word, "stop") <= 1
            && !matches!(*word, "step" | "shop" | "top" | "sto")
        {
            return Some(opt_out(MatchRule::Misspelling, "stop"));
        }
    }
    None
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
        for text in [
            "",
            "   ",
            "thanks!",
            "What size is it?",
            "no thanks, I already bought it",
        ] {
            assert_eq!(intent(text), ReplyIntent::Other, "{text:?}");
        }
    }

    #[test]
    fn a_refusal_some_words_before_texting_is_an_opt_out() {
        for (text, word) in [
            ("please don't ever send me any more of these", "send"),
            ("I do not want to receive any more text messages", "text"),
            ("never contact me again", "contact"),
            ("no texts please", "texts"),
            ("I don't wish to receive marketing texts", "marketing"),
            ("why do you keep texting me", "texting"),
            ("Why am I getting these messages?", "messages"),
            ("why did you text me", "text"),
            ("Je ne veux plus recevoir vos SMS", "sms"),
            ("Merci de ne plus m'envoyer de messages", "messages"),
            ("No me manden más mensajes", "manden"),
            ("¿Por qué me siguen mandando mensajes?", "mandando"),
        ] {
            let c = classify(text);
            assert_eq!(
                (c.intent, c.rule),
                (ReplyIntent::OptOut, MatchRule::Refusal),
                "{text:?}"
            );
            assert_eq!(c.matched, Some(word), "{text:?}");
        }
    }

    #[test]
    fn a_negation_about_something_else_is_not_a_refusal() {
        for text in [
            "I didn't get the text with my code",
            "I never got a text with my tracking number",
            "I don't mind the texts",
            "don't send it yet",
            "No, the message said 20% off",
            "No problem, I'll text you back",
            "I'm not sure the message went through",
            "Je n'ai pas reçu le SMS",
            "No recibí el mensaje",
            "why didn't I get a text with my tracking number",
            "keep me posted",
        ] {
            assert_eq!(intent(text), ReplyIntent::Other, "{text:?}");
        }
    }

    #[test]
    fn everyday_opt_outs_without_a_listed_keyword() {
        for text in [
            "I want out",
            "no longer interested",
            "delete me",
            "why do you keep texting me?? leave me alone",
            "how did you get my number",
            "No thanks",
            "Remove please",
            "nooo",
            "STOPPPP",
            "stahp",
            "stpo texting me",
            "pls unsubcribe me",
            "Désabonnez-moi",
            "Laissez-moi tranquille",
            "Déjame en paz",
            "Quiero darme de baja",
            "\u{26D4}",
        ] {
            assert_eq!(intent(text), ReplyIntent::OptOut, "{text:?}");
        }
        assert_eq!(classify("pls unsubcribe me").rule, MatchRule::Misspelling);
        // Stretched opt-in keywords stay unclear: consent must be exact.
        assert_eq!(intent("yesss"), ReplyIntent::Other);
    }

    #[test]
    fn styled_and_invisible_characters_do_not_hide_a_keyword() {
        for text in [
            "\u{FF33}\u{FF34}\u{FF2F}\u{FF30}",
            "\u{1D412}\u{1D413}\u{1D40E}\u{1D40F} texting me",
            "S\u{200B}TOP",
            "un\u{00AD}sub\u{00AD}scribe",
            "s\u{0336}t\u{0336}o\u{0336}p\u{0336}",
            "\u{1F142}\u{1F143}\u{1F13E}\u{1F13F}",
        ] {
            let c = classify(text);
            assert_eq!(c.intent, ReplyIntent::OptOut, "{text:?}");
            assert!(matches!(c.matched, Some("stop" | "unsubscribe")), "{text:?}: {c:?}");
        }
        assert_eq!(
            intent("\u{FF33}\u{FF34}\u{FF21}\u{FF32}\u{FF34}"),
            ReplyIntent::OptIn(OptInKeyword::Start)
        );
        assert_eq!(intent("HE\u{200D}LP"), ReplyIntent::Help);
    }

    /// One line of the corpus: what the person meant, the language, the text.
    struct Labelled {
        intent: &'static str,
        language: &'static str,
        text: String,
    }

    /// `\u{...}` in the corpus stands for a character that would be invisible in the file.
    fn unescape(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("\\u{") {
            out.push_str(&rest[..start]);
            let end = start + rest[start..].find('}').expect("closed escape");
            let code = u32::from_str_radix(&rest[start + 3..end], 16).expect("hex escape");
            out.push(char::from_u32(code).expect("a character"));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn corpus() -> Vec<Labelled> {
        include_str!("../../tests/data/reply_corpus.tsv")
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let mut fields = line.splitn(3, '\t');
                let (Some(intent), Some(language), Some(text)) = (fields.next(), fields.next(), fields.next()) else {
                    panic!("corpus line without three fields: {line:?}");
                };
                assert!(matches!(intent, "opt_out" | "opt_in" | "help" | "other"), "{line:?}");
                Labelled {
                    intent,
                    language,
                    text: unescape(text),
                }
            })
            .collect()
    }

    fn label(intent: ReplyIntent) -> &'static str {
        match intent {
            ReplyIntent::OptOut => "opt_out",
            ReplyIntent::OptIn(_) => "opt_in",
            ReplyIntent::Help => "help",
            ReplyIntent::Other => "other",
        }
    }

    /// Recall and precision of opt-outs on the labelled corpus, overall and per language. A missed opt-out
    /// fails the test; false opt-outs are the asymmetry's price, bounded by `PRECISION_FLOOR`.
    #[test]
    fn corpus_recall_is_total_and_precision_above_the_floor() {
        const PRECISION_FLOOR: f64 = 0.95;
        let corpus = corpus();
        assert!(corpus.len() >= 300, "{} lines", corpus.len());
        let mut missed = Vec::new();
        let mut false_opt_outs = Vec::new();
        let mut mislabelled = Vec::new();
        let mut languages: Vec<&str> = corpus.iter().map(|l| l.language).collect();
        languages.sort_unstable();
        languages.dedup();
        println!("reply corpus: lines, opt-outs, recall, precision of OptOut");
        for language in languages.iter().copied().map(Some).chain([None]) {
            let (mut lines, mut opt_outs, mut true_pos, mut flagged) = (0, 0, 0, 0);
            for line in corpus.iter().filter(|l| language.is_none_or(|lang| l.language == lang)) {
                let got = label(classify(&line.text).intent);
                lines += 1;
                opt_outs += usize::from(line.intent == "opt_out");
                flagged += usize::from(got == "opt_out");
                true_pos += usize::from(got == "opt_out" && line.intent == "opt_out");
                if language.is_none() {
                    match (line.intent, got) {
                        ("opt_out", "opt_out") => {}
                        ("opt_out", _) => missed.push(line.text.clone()),
                        (_, "opt_out") => false_opt_outs.push(line.text.clone()),
                        (want, got) if want != got => mislabelled.push(format!("{:?}: {got}", line.text)),
                        _ => {}
                    }
                }
            }
            let recall = true_pos as f64 / opt_outs as f64;
            let precision = true_pos as f64 / flagged as f64;
            println!(
                "{:>3}: {lines} lines, {opt_outs} opt-outs, recall {:.1}%, precision {:.1}%",
                language.unwrap_or("all"),
                100.0 * recall,
                100.0 * precision
            );
            assert!(precision >= PRECISION_FLOOR, "{language:?}: precision {precision:.3}");
        }
        println!("false opt-outs (the documented asymmetry): {false_opt_outs:#?}");
        assert!(missed.is_empty(), "missed opt-outs: {missed:#?}");
        assert!(mislabelled.is_empty(), "other intents wrong: {mislabelled:#?}");
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
