//! Consent: the append-only ledger of consent events per (store, phone), and the engine that decides
//! whether a message may go to a number now.

pub mod ledger;

pub use ledger::{ConsentEvent, ConsentEventKind, OptOutMethod, Purpose};
