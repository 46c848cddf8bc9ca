//! Consent: the append-only ledger of consent events per (store, phone), and the engine that decides
//! whether a message may go to a number now.
//!
//! Everything here is pure: plain data in, plain data out, no I/O, no async, no clock (the caller passes
//! `now`). The rules, their sources and their ids (`R-US-2`, `R-ST-1`, `P-3`, ...) are in
//! `docs/consent-rules.md`; each rule's function cites the ids it enforces.
//!
//! # The pieces
//! - [`ledger`]: the events ([`ConsentEvent`]) — checkbox, keyword, double opt-in, BigCommerce general
//!   marketing, inferred, import default, purchase, opt-out, erasure — with their evidence.
//! - [`state`]: the fold of a ledger into the consents in effect ([`ConsentState`]): opt-out beats every
//!   earlier opt-in, only a new express SMS opt-in restores consent, a checkbox counts only once verified.
//! - [`region`]: who the recipient is ([`Recipient::resolve`]): market, US state / Canadian province, candidate
//!   time zones, from the number's area code (generated table), the address, then the country.
//! - [`engine`]: [`decide`] — Allow (with the authorising ledger entry and settings version), Deny (reason
//!   code + one sentence) or Defer (until the earliest instant it could be allowed). Rules, in order:
//!   1. opt-out wins ([`engine::rule_1_opt_out_wins`]);
//!   2. the merchant's consent option ([`engine::rule_2_merchant_option`]);
//!   3. the regional floor ([`engine::rule_3_regional_floor`]): US express written consent (+ double opt-in
//!      for cart reminders; a keyword only restores written consent given before), Canada express or a
//!      purchase within 2 years, Australia and New Zealand express or inferred (an imported customer only with
//!      a purchase within 2 years), UK SMS-specific or soft opt-in, EU/EEA SMS-specific express, elsewhere the
//!      merchant's option; Canada and Australia also need the sender's contact details
//!      ([`engine::sender_identification`]);
//!   4. quiet hours in the recipient's local time ([`hours`]);
//!   5. frequency: smart sending and the FL/OK/MD (and NJ) 3-per-24-hours cap;
//!   6. cart reminders: one per cart within 48 hours in the US/Canada, up to 3 elsewhere
//!      ([`engine::rule_6_cart_reminder_limits`], [`engine::reminder_schedule`]).
//! - [`classifier`]: inbound replies → opt-out / opt-in (START, UNSTOP, YES) / HELP / other.
//! - [`content`]: brand and "Reply STOP to opt out" in every marketing text, SHAFT screening, GSM-7/UCS-2
//!   segments, and the canned HELP / opt-out confirmation texts and the consent texts (double opt-in request,
//!   opt-in confirmations), which carry the full disclosure.
//! - [`disclosure`]: the checkout checkbox text (plain and safe HTML), its validator and its version hash.
//!
//! # Choices a reviewer should know (all on the strict side)
//! - An address in another state adds that state's rules and zones to the area code's; an unknown US state
//!   means every state's rules at once; a number of unknown country gets the US rules.
//! - New Jersey is treated as 08:00-20:00 with the 3-per-24-hours cap (sources conflict, P-1);
//!   France gets no marketing texts on Sundays; no market ever gets them before 08:00 or from 21:00.
//! - A checkbox counts only if its stored disclosure text is complete, names the store's current brand and
//!   hashes to its recorded version; a US cart reminder's double opt-in request must carry the same complete
//!   disclosure (its YES is the written consent). Renaming the brand therefore retires checkbox consent given under the old name.
//! - After any opt-out, non-express bases (newsletter opt-in, purchase, inferred, import) never count again.
//! - Opt-out words count anywhere in a reply; opt-in keywords only as the whole reply.
//! - The double opt-in request waits for the send window; the opt-out confirmation and HELP reply do not.
//!
//! Consent records are evidence: keep them at least 4 years after the last message (28 U.S.C. §1658(a),
//! R-US-5); every Allow names the ledger entry and settings version to record with the send.

pub mod classifier;
pub mod content;
pub mod disclosure;
pub mod engine;
pub mod hours;
pub mod ledger;
mod nanp_regions;
pub mod region;
pub mod state;
#[cfg(test)]
mod testkit;
mod text;

pub use classifier::{Classification, MatchRule, ReplyIntent, classify};
pub use content::{
    ContentProblem, Encoding, MessageReview, SegmentCount, ShaftCategory, ShaftHit, count_segments,
    must_omit_product_name, review_marketing_message, screen_shaft,
};
pub use disclosure::{
    Disclosure, DisclosureError, MissingElement, build_disclosure, disclosure_version, validate_disclosure,
};
pub use engine::{
    Decision, DecisionInput, MessageKind, PastSend, Reason, SentKind, StepTiming, decide, reminder_schedule,
};
pub use ledger::{ConsentEvent, ConsentEventKind, OptInKeyword, OptOutMethod, Purpose};
pub use region::{AddressHint, Market, Recipient, RegionSource};
pub use state::{Basis, ConsentState, ConsentStatus, Grant};
