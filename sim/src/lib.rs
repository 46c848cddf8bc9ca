pub mod sms;

pub use sms::{SandboxConfig, SmsSandbox};
