//! The domain of the app: contacts, consent, carts and reminders, as plain data and pure rules. Nothing here
//! performs I/O: the crate depends on no AWS SDK, HTTP client or async runtime (`cargo xtask test` checks
//! its dependency tree). The adapters in `shared` (DynamoDB, BigCommerce, SMS, SQS, EventBridge) depend on
//! it and map their wire types to it; `shared` re-exports every module here at the same path.

pub mod carts;
pub mod checkout_consent;
pub mod clock;
pub mod consent;
pub mod contacts;
pub mod delivery;
pub mod html;
pub mod messages;
pub mod model;
pub mod phone;
pub mod recovery;
pub mod recovery_stats;
pub mod replies;
pub mod secret;
pub mod store_events;
pub mod store_hash;

pub use clock::{Clock, ManualClock, SystemClock};
pub use phone::Phone;
pub use secret::Secret;
pub use store_hash::StoreHash;
