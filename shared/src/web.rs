//! Small helpers for the HTTP functions' responses. HTML pages are built with [`crate::pages`].

use http::{Response, StatusCode, header};

pub type WebResponse = Response<String>;

pub fn html(status: StatusCode, body: impl Into<String>) -> WebResponse {
    respond(status, "text/html; charset=utf-8", body.into())
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> WebResponse {
    respond(status, "application/json", value.to_string())
}

pub fn text(status: StatusCode, body: impl Into<String>) -> WebResponse {
    respond(status, "text/plain; charset=utf-8", body.into())
}

/// `{"error": message}` with the status: the shape every machine-facing error uses.
pub fn json_error(status: StatusCode, message: &str) -> WebResponse {
    json(status, &serde_json::json!({ "error": message }))
}

pub fn redirect(location: &str) -> WebResponse {
    Response::builder()
        .status(StatusCode::FOUND)
        .header(header::LOCATION, location)
        .header(header::CACHE_CONTROL, "no-store")
        .body(String::new())
        .expect("static response parts are valid")
}

fn respond(status: StatusCode, content_type: &str, body: String) -> WebResponse {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header("x-content-type-options", "nosniff")
        .body(body)
        .expect("static response parts are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_responses_are_json() {
        let response = json_error(StatusCode::BAD_REQUEST, "bad \"input\"");
        assert_eq!(response.status(), 400);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(response.body()).unwrap()["error"],
            "bad \"input\""
        );
    }
}
