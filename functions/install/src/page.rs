//! The HTML frame every page of the app shares, and the headers that let it live inside BigCommerce's
//! control-panel iframe and nowhere else. Pages are server-rendered with no script, as templates framed by
//! [`shared::pages`].

use http::{HeaderValue, StatusCode, header};
use shared::StoreHash;
use shared::pages::{self, Markup, Reader, Render, html};
use shared::web::{self, WebResponse};

/// No script runs; forms post back to us only. `frame-ancestors` follows, per page.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
     form-action 'self'; base-uri 'none'";

/// BigCommerce's login service: the install flow inside the control panel reaches `/auth` through it.
const LOGIN_ORIGIN: &str = "https://login.bigcommerce.com";

/// Who may frame a store's pages: that store's control panel only. The control panel lives at
/// `https://store-{hash}.mybigcommerce.com/manage/...`; CSP cannot name a path, so the origin also covers that
/// store's storefront at its permanent address (the merchant's own site), but no other store's storefront.
fn store_frame_ancestors(store: &StoreHash) -> String {
    format!("frame-ancestors https://store-{store}.mybigcommerce.com {LOGIN_ORIGIN}")
}

/// Pages that name no store (errors before a token or session says which store) hold no form and no merchant
/// data, so nothing can be clicked or read through a frame; every store's control panel must still be able to
/// show them, and a host wildcard cannot be narrowed to the control panel's `store-` hosts.
const ANY_STORE_FRAME_ANCESTORS: &str = "frame-ancestors https://*.mybigcommerce.com https://login.bigcommerce.com";

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_ancestors(response: &WebResponse) -> String {
        let policy = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        let directive = policy.split("; ").find(|d| d.starts_with("frame-ancestors")).unwrap();
        directive.to_owned()
    }

    #[test]
    fn a_stores_pages_may_be_framed_by_its_control_panel_only() {
        let store = StoreHash::parse("abc123").unwrap();
        let page = respond_for_store(&store, StatusCode::OK, "Settings", html! { p { "x" } });
        assert_eq!(
            frame_ancestors(&page),
            "frame-ancestors https://store-abc123.mybigcommerce.com https://login.bigcommerce.com"
        );
        let policy = page.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with(CONTENT_SECURITY_POLICY), "{policy}");
        // A page that names no store: no form, no data; any store's control panel may show it.
        let message = message(StatusCode::UNAUTHORIZED, "Not authorised", "Open the app again.");
        assert_eq!(
            frame_ancestors(&message),
            "frame-ancestors https://*.mybigcommerce.com https://login.bigcommerce.com"
        );
    }
}

/// How a notice at the top of a page reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Success,
    Warning,
    Error,
}

/// A message at the top of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub tone: Tone,
    pub text: String,
}

impl Notice {
    pub fn success(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Success,
            text: text.into(),
        }
    }

    pub fn warning(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Warning,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Error,
            text: text.into(),
        }
    }
}

impl Render for Notice {
    fn render(&self) -> Markup {
        let (class, role) = match self.tone {
            Tone::Success => ("notice success", "status"),
            Tone::Warning => ("notice warning", "alert"),
            Tone::Error => ("notice error", "alert"),
        };
        html! { div class=(class) role=(role) { (self.text) } }
    }
}

/// A page of one store (the settings page, the install's answers), which only that store's control panel may
/// frame.
pub fn respond_for_store(store: &StoreHash, status: StatusCode, title: &str, body: Markup) -> WebResponse {
    framed(status, title, body, &store_frame_ancestors(store))
}

/// A complete HTML page with the app's headers that names no store: it must not carry forms or merchant data
/// (see `ANY_STORE_FRAME_ANCESTORS`).
pub fn respond(status: StatusCode, title: &str, body: Markup) -> WebResponse {
    framed(status, title, body, ANY_STORE_FRAME_ANCESTORS)
}

fn framed(status: StatusCode, title: &str, body: Markup, frame_ancestors: &str) -> WebResponse {
    let mut response = web::html(status, pages::document(Reader::Merchant, title, body));
    let headers = response.headers_mut();
    let policy = format!("{CONTENT_SECURITY_POLICY}; {frame_ancestors}");
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&policy).expect("a store hash is a valid header value"),
    );
    // Pages carry CSRF tokens and merchant data; `/load`'s URL carries a signed payload.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A page that only says something (errors, callbacks' answers).
pub fn message(status: StatusCode, heading: &str, text: &str) -> WebResponse {
    respond(
        status,
        heading,
        html! {
            h1 { (heading) }
            p class="message" { (text) }
        },
    )
}

/// The hidden fields that authenticate a form post: the session's CSRF token and the sealed session itself
/// (browsers that block third-party cookies drop the cookie inside the control panel's iframe).
pub fn hidden_auth(csrf: &str, session_token: &str) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf);
        input type="hidden" name="session" value=(session_token);
    }
}

/// Adds a `Set-Cookie` header.
pub fn with_cookie(mut response: WebResponse, cookie: &str) -> WebResponse {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
