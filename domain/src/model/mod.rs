//! What the app keeps, in the merchant's words: stores and their settings, contacts, carts, reminders
//! (send records) and sync jobs. Plain data: no I/O here; `shared::db` stores it.

pub mod cart;
pub mod contact;
pub mod links;
pub mod send;
pub mod sender;
pub mod settings;
pub mod store;
pub mod sync_job;

pub use cart::{Cart, CartStatus, LineItem};
pub use contact::{Address, Contact, ContactSource};
pub use links::{OptOutLink, RecoveryLink};
pub use send::{ReminderClaim, ReminderDecision, SendRecord, SendStatus};
pub use sender::{SenderApproval, SenderSharing, SenderStatus};
pub use settings::{ConsentOption, QuietHours, ReminderSettings, Settings};
pub use store::{MerchantUser, Store, StoreStatus, UserAccess};
pub use sync_job::{SyncJob, SyncJobStatus};
