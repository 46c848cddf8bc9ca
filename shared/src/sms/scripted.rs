//! What a scripted provider answers in the in-memory tests of the send job and the reply handling, and what the
//! provider's client makes of each answer: one list, so both suites script the same cases the same way.

use super::{SendFailure, SentSms, SmsError};

/// How the scripted provider answers one send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedAnswer {
    Accept,
    /// The provider answered with this failure (HTTP 400): nothing went out.
    Refuse(SendFailure),
    /// HTTP 503: nothing went out, try again later.
    Unavailable,
    /// The request went out but its answer never came (the client's timeout): the message may have gone out.
    TimeOut,
    /// The provider answered 200 but its answer could not be read: the message may have gone out.
    Unreadable,
    /// The call never returns: the invocation dies during it (the test drops the future).
    Hang,
}

impl ScriptedAnswer {
    /// What the client returns for this answer to the `call`-th send (1-based: the message id).
    pub async fn outcome(self, provider: &'static str, call: usize) -> Result<SentSms, SmsError> {
        let refused = |status, failure| SmsError::Refused {
            provider,
            status,
            code: None,
            message: "scripted refusal".to_owned(),
            failure,
        };
        match self {
            Self::Accept => Ok(SentSms {
                provider,
                message_id: format!("msg-{call}"),
            }),
            Self::Refuse(failure) => Err(refused(400, failure)),
            Self::Unavailable => Err(refused(503, SendFailure::Retryable)),
            Self::TimeOut => Err(SmsError::Unreachable {
                provider,
                timed_out: true,
                not_connected: false,
                reason: "timed out".to_owned(),
            }),
            Self::Unreadable => Err(SmsError::Unconfirmed {
                provider,
                status: 200,
                reason: "scripted unreadable answer".to_owned(),
            }),
            Self::Hang => std::future::pending().await,
        }
    }
}
