//! The HTTP API: serves the template's `HttpApi` routes on a loopback port, turning each request into the
//! API Gateway HTTP API (payload 2.0) event the function receives in AWS, and its response back into HTTP.

use crate::invoke::{InvokeError, SharedFunction};
use crate::template::{EventDef, Template, TemplateError};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

/// Matches API Gateway's payload limit for HTTP APIs.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

#[derive(Clone)]
struct Route {
    method: String,
    /// `/r/{token}` split into segments.
    segments: Vec<String>,
    route_key: String,
    function: SharedFunction,
}

impl Route {
    fn matches(&self, method: &str, path: &str) -> Option<BTreeMap<String, String>> {
        if self.method != "ANY" && !self.method.eq_ignore_ascii_case(method) {
            return None;
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut params = BTreeMap::new();
        for (i, segment) in self.segments.iter().enumerate() {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                params.insert(name.to_owned(), parts.get(i..)?.join("/"));
                return Some(params);
            }
            let part = parts.get(i)?;
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) if !part.is_empty() => {
                    params.insert(name.to_owned(), percent_decode(part));
                }
                Some(_) => return None,
                None if segment == part => {}
                None => return None,
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }
}

fn percent_decode(value: &str) -> String {
    let bytes = value.as_bytes();
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if let (b'%', Some(high), Some(low)) = (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            out.push(high << 4 | low);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A bound, not yet serving, HTTP API: its URL is known before the functions are built (they need it as
/// `APP_URL`).
pub struct GatewayListener {
    listener: tokio::net::TcpListener,
    url: String,
}

impl GatewayListener {
    pub async fn bind(address: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(address).await?;
        let url = format!("http://{}", listener.local_addr()?);
        Ok(Self { listener, url })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Serves every `HttpApi` route of the template's functions. `functions` maps function logical ids
    /// (`InstallFunction`) to implementations; a route whose function is missing is an error.
    pub fn serve(
        self,
        template: &Template,
        functions: &BTreeMap<String, SharedFunction>,
    ) -> Result<Gateway, TemplateError> {
        let mut routes = Vec::new();
        for function in template.functions()? {
            for (_, event) in &function.events {
                if let EventDef::Http { method, path } = event {
                    let implementation = functions.get(&function.logical_id).ok_or_else(|| {
                        TemplateError::Shape(format!("no implementation given for {}", function.logical_id))
                    })?;
                    routes.push(Route {
                        method: method.to_uppercase(),
                        segments: path.trim_start_matches('/').split('/').map(str::to_owned).collect(),
                        route_key: format!("{} {path}", method.to_uppercase()),
                        function: implementation.clone(),
                    });
                }
            }
        }
        let app = axum::Router::new().fallback(handle).with_state(Arc::new(routes));
        let listener = self.listener;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        Ok(Gateway { url: self.url, task })
    }
}

/// A running HTTP API. Stops when dropped.
pub struct Gateway {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gateway {
    /// The base URL (the local `APP_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }
}

async fn handle(
    State(routes): State<Arc<Vec<Route>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_PAYLOAD {
        return (StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large").into_response();
    }
    let path = uri.path();
    // Like API Gateway: a route-less request never reaches a function.
    let Some((route, params)) = routes
        .iter()
        .find_map(|r| r.matches(method.as_str(), path).map(|p| (r, p)))
    else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
    };
    let event = api_gateway_event(route, &params, &method, &uri, &headers, &body, peer);
    // As on AWS, an invocation runs to its end even when the caller stops waiting (API Gateway's timeout,
    // a provider's): dropping it with the connection would cut a handler between two side effects.
    let function = route.function.clone();
    let invocation = tokio::spawn(async move { function.invoke(event).await });
    let result = invocation
        .await
        .unwrap_or_else(|panicked| Err(InvokeError::Function(panicked.to_string())));
    match result {
        Ok(response) => into_http(response),
        Err(InvokeError::Function(message))
        | Err(InvokeError::Payload(message))
        | Err(InvokeError::Transport(message)) => {
            tracing::error!(%message, route = %route.route_key, "function failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "Internal Server Error"})),
            )
                .into_response()
        }
    }
}

/// The event API Gateway sends the function: its own type, serialised as the function receives it.
fn api_gateway_event(
    route: &Route,
    params: &BTreeMap<String, String>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    peer: SocketAddr,
) -> Value {
    let header = |name: &str| headers.get(name).and_then(|h| h.to_str().ok());
    let mut event = ApiGatewayV2httpRequest::default();
    let mut cookies = Vec::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        if name == "cookie" {
            cookies.extend(values.iter().flat_map(|v| v.split("; ")).map(str::to_owned));
        } else if let Ok(joined) = HeaderValue::from_str(&values.join(",")) {
            // One value per name, repeated headers joined, as API Gateway sends them.
            event.headers.insert(name, joined);
        }
    }
    let raw_query = uri.query().unwrap_or_default();
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (key, value) in serde_urlencoded::from_str::<Vec<(String, String)>>(raw_query).unwrap_or_default() {
        query.entry(key).or_default().push(value);
    }
    let (body, is_base64) = match std::str::from_utf8(body) {
        _ if body.is_empty() => (None, false),
        Ok(text) => (Some(text.to_owned()), false),
        Err(_) => (Some(base64::engine::general_purpose::STANDARD.encode(body)), true),
    };
    let now = chrono::Utc::now();
    event.version = Some("2.0".into());
    event.route_key = Some(route.route_key.clone());
    event.raw_path = Some(uri.path().to_owned());
    event.raw_query_string = Some(raw_query.to_owned());
    event.cookies = (!cookies.is_empty()).then_some(cookies);
    event.query_string_parameters = query.into();
    event.path_parameters = params.clone().into_iter().collect();
    event.body = body;
    event.is_base64_encoded = is_base64;
    // The type's top-level method is a v1 authorizer field; it would otherwise say GET for every request.
    #[allow(deprecated)]
    {
        event.http_method = method.clone();
    }
    let context = &mut event.request_context;
    context.account_id = Some("123456789012".into());
    context.apiid = Some("local".into());
    context.domain_name = Some(header("host").unwrap_or("localhost").to_owned());
    context.domain_prefix = Some("local".into());
    context.request_id = Some(uuid::Uuid::new_v4().to_string());
    context.route_key = Some(route.route_key.clone());
    context.stage = Some("$default".into());
    context.time = Some(now.format("%d/%b/%Y:%H:%M:%S +0000").to_string());
    context.time_epoch = now.timestamp_millis();
    let http = &mut context.http;
    http.method = method.clone();
    http.path = Some(uri.path().to_owned());
    http.protocol = Some("HTTP/1.1".into());
    http.source_ip = Some(peer.ip().to_string());
    http.user_agent = Some(header("user-agent").unwrap_or_default().to_owned());
    serde_json::to_value(&event).expect("an API Gateway event always serialises")
}

/// API Gateway HTTP API response (payload 2.0) → HTTP.
fn into_http(response: Value) -> Response {
    let status = response
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let mut http = Response::builder().status(status);
    let headers = http.headers_mut().expect("builder has no error yet");
    for (name, value) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
        if let (Ok(name), Some(Ok(value))) = (
            HeaderName::try_from(name.as_str()),
            value.as_str().map(HeaderValue::from_str),
        ) {
            headers.append(name, value);
        }
    }
    for (name, values) in response
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for value in values.as_array().into_iter().flatten() {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) && !headers.get_all(&name).iter().any(|v| v == value)
            {
                headers.append(name, value);
            }
        }
    }
    for cookie in response.get("cookies").and_then(Value::as_array).into_iter().flatten() {
        if let Some(Ok(value)) = cookie.as_str().map(HeaderValue::from_str) {
            headers.append(axum::http::header::SET_COOKIE, value);
        }
    }
    let body = match response.get("body").and_then(Value::as_str) {
        Some(text) if response.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .unwrap_or_default()
        }
        Some(text) => text.as_bytes().to_vec(),
        None => Vec::new(),
    };
    http.body(axum::body::Body::from(body)).expect("valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> Route {
        let function = crate::invoke::handler_fn(|_: lambda_runtime::LambdaEvent<Value>| async {
            Ok::<_, lambda_runtime::Error>(Value::Null)
        });
        Route {
            method: method.into(),
            segments: path.trim_start_matches('/').split('/').map(str::to_owned).collect(),
            route_key: format!("{method} {path}"),
            function,
        }
    }

    #[test]
    fn matches_literal_and_parameter_segments() {
        let r = route("GET", "/r/{token}");
        assert_eq!(r.matches("GET", "/r/abc%2Fd").unwrap()["token"], "abc/d");
        assert!(r.matches("POST", "/r/abc").is_none());
        assert!(r.matches("GET", "/r/").is_none());
        assert!(r.matches("GET", "/r/abc/extra").is_none());
        assert!(route("GET", "/auth").matches("GET", "/auth").unwrap().is_empty());
        assert!(route("GET", "/auth").matches("GET", "/authx").is_none());
        assert_eq!(
            route("ANY", "/files/{proxy+}").matches("PUT", "/files/a/b").unwrap()["proxy"],
            "a/b"
        );
    }

    #[test]
    fn the_function_reads_the_request_from_the_event() {
        use lambda_http::RequestExt;
        let r = route("POST", "/hooks/{kind}");
        let params = r.matches("POST", "/hooks/sms").unwrap();
        let uri: Uri = "/hooks/sms?a=1&b=x%20y&a=2".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-seen", HeaderValue::from_static("one"));
        headers.append("x-seen", HeaderValue::from_static("two"));
        headers.append("cookie", HeaderValue::from_static("s=1; t=2"));
        headers.append("host", HeaderValue::from_static("127.0.0.1:3000"));
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let body = Bytes::from_static(&[0xff, 0x00, 0x01]);
        let event = api_gateway_event(&r, &params, &Method::POST, &uri, &headers, &body, peer);

        let lambda: lambda_http::request::LambdaRequest = serde_json::from_value(event).unwrap();
        let request = lambda_http::Request::from(lambda);
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri().path(), "/hooks/sms");
        assert_eq!(request.headers()["x-seen"], "one,two");
        assert_eq!(request.headers()["cookie"], "s=1; t=2");
        let query = request.query_string_parameters();
        assert_eq!(query.all("a"), Some(vec!["1", "2"]));
        assert_eq!(query.first("b"), Some("x y"));
        assert_eq!(request.path_parameters().first("kind"), Some("sms"));
        assert_eq!(request.body().as_ref(), &[0xff, 0x00, 0x01]);
    }
}
