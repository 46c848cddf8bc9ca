//! The adapters that connect the domain (the `domain` crate: contacts, consent, carts and reminders, pure)
//! to DynamoDB, SQS, EventBridge, BigCommerce and SMS providers.
//!
//! Adapters are [`db`], [`queue`], [`bus`], [`bigcommerce`] (with its wire mapping, [`bigcommerce::mapping`])
//! and [`sms`]. Each Lambda function builds the adapters it needs once, in its `main.rs`, from [`config`].
//! Every domain module is re-exported here at its old path (`shared::consent`, `shared::model`, ...).

pub mod access_token;
pub mod app_secret;
pub mod aws;
pub mod bigcommerce;
pub mod bus;
/// The cart's rules ([`domain::carts`]) with its BigCommerce mapping ([`bigcommerce::mapping`]).
pub mod carts {
    pub use crate::bigcommerce::mapping::{billing_phone, cart_contents, proven_phone};
    pub use domain::carts::*;
}
pub use domain::checkout_consent;
pub mod checkout_script;
pub mod clients;
/// Time as a dependency ([`domain::clock`]), and the clock a function reads from its environment.
pub mod clock {
    pub use crate::config::clock_from_env;
    pub use domain::clock::*;
}
pub mod config;
pub use domain::consent;
pub use domain::delivery;
pub mod consent_changes;
/// Contact sync's rules ([`domain::contacts`]) with its BigCommerce mapping ([`bigcommerce::mapping`]).
pub mod contacts {
    pub use crate::bigcommerce::mapping::{
        customer_contact, customer_phone, marketing_status, purchase_event, shopper_details, subscriber_record,
    };
    pub use domain::contacts::*;
}
pub mod db;
pub mod failpoint;
pub mod infra;
pub mod logging;
pub use domain::messages;
pub use domain::model;
pub use domain::phone;
pub mod pages;
pub mod ports;
pub mod queue;
pub use domain::recovery;
pub use domain::recovery_stats;
pub use domain::replies;
pub use domain::secret;
pub mod sms;
pub use domain::store_events;
pub use domain::store_hash;
pub mod test_text;
pub mod tls;
pub mod web;
pub mod write_back;

pub use domain::{Clock, ManualClock, Phone, Secret, StoreHash, SystemClock};
