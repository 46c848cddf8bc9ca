use std::time::Duration;

/// What can go wrong talking to BigCommerce, in the terms callers act on.
///
/// Error bodies are never kept whole: their messages and field errors may quote what was sent (a customer's
/// name, email or number), and these errors reach logs and merchant-facing notices. Only the status and
/// BigCommerce's error code (read by the transport's `error_code`) are kept.
#[derive(Debug, thiserror::Error)]
pub enum BigCommerceError {
    /// 404: the resource is gone (a converted cart, a deleted customer) or never existed.
    #[error("not found: {path}")]
    NotFound { path: String },
    /// 401: the token was revoked, usually because the app was uninstalled or its scopes changed.
    #[error("unauthorized: the access token is not valid for this store")]
    Unauthorized,
    /// 403: the token lacks an OAuth scope for this endpoint.
    #[error("forbidden{}", code_suffix(.code))]
    Forbidden { code: Option<String> },
    /// 429 after every retry; `retry_after` is the store's reset time when it sent one.
    #[error("rate limited by BigCommerce")]
    RateLimited { retry_after: Option<Duration> },
    /// 400, 409, 413, 422 and other client errors: the request itself is wrong and retrying will not help.
    #[error("rejected ({status}){}", code_suffix(.code))]
    Invalid { status: u16, code: Option<String> },
    /// 5xx after every retry.
    #[error("BigCommerce server error ({status}){}", code_suffix(.code))]
    Server { status: u16, code: Option<String> },
    /// Connection failures and timeouts, after every retry.
    #[error("transport error: {0}")]
    Transport(String),
    /// The answer did not have the documented shape (`message` says where, never which value).
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

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(": code {c}")).unwrap_or_default()
}
