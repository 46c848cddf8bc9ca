//! The failures of the adapters every function shares (DynamoDB, SQS, EventBridge, BigCommerce), with one
//! answer to "would a retry help?". Each function's error holds an [`InfraError`] beside its own cases, and its
//! handler maps that answer to a retry (the message back to the queue, a 503) or not.

use crate::bigcommerce::BigCommerceError;
use crate::bus::BusError;
use crate::db::DbError;
use crate::queue::QueueError;

#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Bus(#[from] BusError),
    #[error(transparent)]
    BigCommerce(#[from] BigCommerceError),
}

impl InfraError {
    /// DynamoDB and BigCommerce say which of their failures pass (throttles, 5xx, timeouts) and which do not
    /// (a refused condition, a 403); a failed send to SQS or EventBridge is always worth another try.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Db(error) => error.is_retryable(),
            Self::BigCommerce(error) => error.is_retryable(),
            Self::Queue(_) | Self::Bus(_) => true,
        }
    }
}

/// `From` each adapter's error for a function's error that holds an [`InfraError`] in its `Infra` case, so
/// `?` works on every adapter call.
#[macro_export]
macro_rules! from_infra_errors {
    ($target:ty) => {
        impl From<$crate::db::DbError> for $target {
            fn from(error: $crate::db::DbError) -> Self {
                Self::Infra(error.into())
            }
        }
        impl From<$crate::queue::QueueError> for $target {
            fn from(error: $crate::queue::QueueError) -> Self {
                Self::Infra(error.into())
            }
        }
        impl From<$crate::bus::BusError> for $target {
            fn from(error: $crate::bus::BusError) -> Self {
                Self::Infra(error.into())
            }
        }
        impl From<$crate::bigcommerce::BigCommerceError> for $target {
            fn from(error: $crate::bigcommerce::BigCommerceError) -> Self {
                Self::Infra(error.into())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_is_worth_it_for_passing_failures_only() {
        let passing: [InfraError; 5] = [
            DbError::Request("throttled".into()).into(),
            QueueError::Request("timeout".into()).into(),
            BusError::Request("500".into()).into(),
            BigCommerceError::Server {
                status: 503,
                code: None,
            }
            .into(),
            BigCommerceError::Transport("reset".into()).into(),
        ];
        for error in &passing {
            assert!(error.is_retryable(), "{error}");
        }
        let lasting: [InfraError; 3] = [
            DbError::Mapping(<serde_dynamo::Error as serde::de::Error>::custom("no such shape")).into(),
            BigCommerceError::Forbidden { code: None }.into(),
            BigCommerceError::NotFound {
                path: "/v3/customers".into(),
            }
            .into(),
        ];
        for error in &lasting {
            assert!(!error.is_retryable(), "{error}");
        }
    }
}
