//! Integration tests: real handlers, the real AWS SDK against moto, the BigCommerce simulator and the SMS
//! sandbox, over real HTTP. One test binary (faster to build and link); one module per area.

mod attacks_install;
mod attacks_queues;
mod attacks_secrets;
mod attacks_shopper;
mod attacks_webhooks;
mod capture;
mod consent_bases;
mod crash_points;
mod data_layer;
mod demo;
mod dev_stack;
mod failpoints;
mod fault_proxy;
mod install;
mod install_browser;
mod privacy;
mod privacy_requests;
mod recovery;
mod recovery_glance;
mod recovery_glance_browser;
mod replies;
mod replies_second_pass;
mod settings_cache;
mod sweep_workers;
mod sync;
mod sync_queues;
mod test_text;
mod wiring;
