//! Small helpers for the HTTP functions' responses. Every HTML value from outside goes through
//! [`escape_html`].

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

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

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
