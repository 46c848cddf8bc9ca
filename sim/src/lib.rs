//! Simulators of the outside world for tests and local runs: a BigCommerce store ([`bigcommerce`]) and an SMS
//! provider sandbox ([`sms`]).

pub mod bigcommerce;
pub mod sms;

pub use bigcommerce::BigCommerceSim;
pub use sms::{SandboxConfig, SmsSandbox};
