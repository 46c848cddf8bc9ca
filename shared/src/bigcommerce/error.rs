use std::time::Duration;

/// What can go wrong talking to BigCommerce, in the terms callers act on.
#[derive(Debug, thiserror::Error)]
pub enum BigCommerceError {
    /// 404: the resource is gone (a converted cart, a deleted customer) or never existed.
    #[error("not found: {path}")]
    NotFound { path: String },
    /// 401: the token was revoked, usually because the app was uninstalled or its scopes changed.
    #[error("unauthorized: the access token is not valid for this store")]
    Unauthorized,
    /// 403: the token lacks an OAuth scope for this endpoint.
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// 429 after every retry; `retry_after` is the store's reset time when it sent one.
    #[error("rate limited by BigCommerce")]
    RateLimited { retry_after: Option<Duration> },
    /// 400, 409, 413, 422 and other client errors: the request itself is wrong and retrying will not help.
    #[error("rejected ({status}): {message}")]
    Invalid { status: u16, message: String },
    /// 5xx after every retry.
    #[error("BigCommerce server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// Connection failures and timeouts, after every retry.
    #[error("transport error: {0}")]
    Transport(String),
    /// The answer did not have the documented shape.
    #[error("unexpected response from {path}: {message}")]
    Decode { path: String, message: String },
    /// The store's stored access token could not be opened (or a new one sealed).
    #[error(transparent)]
    AccessToken(#[from] crate::access_token::AccessTokenError),
}

impl BigCommerceError {
    /// Whether trying again later (an SQS redelivery, say) may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::AccessToken(error) => error.is_retryable(),
            other => matches!(
                other,
                Self::RateLimited { .. } | Self::Server { .. } | Self::Transport(_)
            ),
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
