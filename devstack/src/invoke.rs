//! Calling a function the way Lambda does: a JSON event in, a JSON response out. In-process (the handler
//! behind the same adapters `lambda_runtime::run` and `lambda_http::run` use) or through the invoke API of
//! `cargo lambda watch`.

use futures::future::BoxFuture;
use lambda_http::{Body, Request, Response, Service};
use lambda_runtime::{Context, LambdaEvent};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::sync::Arc;

#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    /// The event did not deserialize into the function's event type (Lambda reports a runtime error).
    #[error("the event does not match the function's event type: {0}")]
    Payload(String),
    /// The handler returned an error (Lambda reports a function error; event sources retry the batch).
    #[error("the function failed: {0}")]
    Function(String),
    #[error("the function could not be reached: {0}")]
    Transport(String),
}

/// A deployed-like function.
pub trait Function: Send + Sync {
    fn invoke(&self, event: Value) -> BoxFuture<'_, Result<Value, InvokeError>>;
}

pub type SharedFunction = Arc<dyn Function>;

fn context() -> Context {
    let mut context = Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    context.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:local".to_owned();
    context
}

struct EventFunction<F>(F);

impl<F> Function for EventFunction<F>
where
    F: Fn(Value) -> BoxFuture<'static, Result<Value, InvokeError>> + Send + Sync,
{
    fn invoke(&self, event: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        (self.0)(event)
    }
}

/// A `lambda_runtime` handler (`LambdaEvent<E>` → `R`) as a [`Function`].
pub fn handler_fn<E, R, F, Fut>(handler: F) -> SharedFunction
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + 'static,
    F: Fn(LambdaEvent<E>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, lambda_runtime::Error>> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(EventFunction(
        move |event: Value| -> BoxFuture<'static, Result<Value, InvokeError>> {
            let handler = handler.clone();
            Box::pin(async move {
                let payload: E = serde_json::from_value(event).map_err(|e| InvokeError::Payload(e.to_string()))?;
                let response = handler(LambdaEvent::new(payload, context()))
                    .await
                    .map_err(|e| InvokeError::Function(e.to_string()))?;
                serde_json::to_value(response).map_err(|e| InvokeError::Function(e.to_string()))
            })
        },
    ))
}

/// A `lambda_http` handler (`Request` → `Response<Body>`) as a [`Function`] taking API Gateway HTTP API (v2)
/// events, through the adapter `lambda_http::run` uses.
pub fn http_fn<F, Fut>(handler: F) -> SharedFunction
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<Body>, lambda_http::Error>> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(EventFunction(
        move |event: Value| -> BoxFuture<'static, Result<Value, InvokeError>> {
            let handler = handler.clone();
            Box::pin(async move {
                let request: lambda_http::request::LambdaRequest =
                    serde_json::from_value(event).map_err(|e| InvokeError::Payload(e.to_string()))?;
                let service = lambda_http::service_fn(move |req: Request| {
                    let handler = handler.clone();
                    async move { handler(req).await }
                });
                let mut adapter = lambda_http::Adapter::from(service);
                let response = adapter
                    .call(LambdaEvent::new(request, context()))
                    .await
                    .map_err(|e| InvokeError::Function(e.to_string()))?;
                serde_json::to_value(response).map_err(|e| InvokeError::Function(e.to_string()))
            })
        },
    ))
}

/// Retries Lambda makes of a failed asynchronous invocation (how EventBridge's schedule invokes the sweep):
/// the template's `EventInvokeConfig.MaximumRetryAttempts`, Lambda's default.
pub const ASYNC_RETRIES: u32 = 2;

/// Invokes `function` as Lambda runs an asynchronous event: a failed invocation is tried again, up to
/// [`ASYNC_RETRIES`] times, at once rather than after Lambda's minutes of backoff. The last error is returned
/// when every attempt failed.
pub async fn invoke_async(function: &dyn Function, event: Value) -> Result<Value, InvokeError> {
    let mut attempt = 0;
    loop {
        match function.invoke(event.clone()).await {
            Err(_) if attempt < ASYNC_RETRIES => {
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// A function served by `cargo lambda watch`, invoked through its Lambda Invoke API.
pub struct WatchFunction {
    client: reqwest::Client,
    url: String,
}

impl WatchFunction {
    pub fn shared(watch_url: &str, function_name: &str) -> SharedFunction {
        Arc::new(Self {
            client: reqwest::Client::new(),
            url: format!(
                "{}/2015-03-31/functions/{function_name}/invocations",
                watch_url.trim_end_matches('/')
            ),
        })
    }
}

impl Function for WatchFunction {
    fn invoke(&self, event: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        Box::pin(async move {
            let response = self
                .client
                .post(&self.url)
                .json(&event)
                .timeout(std::time::Duration::from_secs(900))
                .send()
                .await
                .map_err(|e| InvokeError::Transport(e.to_string()))?;
            let status = response.status();
            let body: Value = response
                .json()
                .await
                .map_err(|e| InvokeError::Transport(e.to_string()))?;
            if !status.is_success() || body.get("errorType").is_some() {
                return Err(InvokeError::Function(body.to_string()));
            }
            Ok(body)
        })
    }
}

/// The event EventBridge delivers for a `Schedule` rule (what the sweep receives).
pub fn scheduled_event(time: chrono::DateTime<chrono::Utc>) -> Value {
    serde_json::json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/local-sweep"],
        "detail": {}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails its first `failures` invocations with a function error, then answers with its attempt number.
    struct FailsFirst {
        failures: u32,
        calls: AtomicU32,
    }

    impl Function for FailsFirst {
        fn invoke(&self, _event: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            let failures = self.failures;
            Box::pin(async move {
                if call <= failures {
                    Err(InvokeError::Function(format!("attempt {call} failed")))
                } else {
                    Ok(serde_json::json!(call))
                }
            })
        }
    }

    fn fails_first(failures: u32) -> FailsFirst {
        FailsFirst {
            failures,
            calls: AtomicU32::new(0),
        }
    }

    #[tokio::test]
    async fn an_asynchronous_invocation_is_retried_twice_after_a_function_error() {
        let function = fails_first(ASYNC_RETRIES);
        let answer = invoke_async(&function, Value::Null).await.unwrap();
        assert_eq!(answer, serde_json::json!(3));

        let function = fails_first(ASYNC_RETRIES + 1);
        let error = invoke_async(&function, Value::Null).await.unwrap_err();
        assert!(
            matches!(error, InvokeError::Function(ref e) if e == "attempt 3 failed"),
            "{error}"
        );
        assert_eq!(function.calls.load(Ordering::SeqCst), 3);
    }
}
