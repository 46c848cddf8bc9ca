//! The domain of the app: contacts, consent, carts and reminders, plus the adapters that connect it to
//! DynamoDB, SQS, EventBridge, BigCommerce and SMS providers.
//!
//! Pure logic (the consent engine above all) lives in modules without I/O: [`consent`], [`phone`],
//! [`model`], [`messages`], [`recovery`]. Adapters are [`db`], [`queue`], [`bus`], [`bigcommerce`] and
//! [`sms`]. Each Lambda function builds the adapters it needs once, in its `main.rs`, from [`config`].

pub mod access_token;
pub mod app_secret;
pub mod aws;
pub mod bigcommerce;
pub mod bus;
pub mod carts;
pub mod checkout_consent;
pub mod checkout_script;
pub mod clients;
pub mod clock;
pub mod config;
pub mod consent;
pub mod consent_changes;
pub mod contacts;
pub mod db;
pub mod failpoint;
pub mod logging;
pub mod messages;
pub mod model;
pub mod phone;
pub mod queue;
pub mod recovery;
pub mod replies;
pub mod secret;
pub mod sms;
pub mod store_events;
pub mod store_hash;
pub mod test_text;
pub mod web;
pub mod write_back;

pub use clock::{Clock, ManualClock, SystemClock};
pub use phone::Phone;
pub use secret::Secret;
pub use store_hash::StoreHash;
