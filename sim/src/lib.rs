//! Simulators of the outside world for tests and local runs.

pub mod bigcommerce;

pub use bigcommerce::BigCommerceSim;
