//! The HTML frame every page of the app shares, and the headers that let it live inside BigCommerce's
//! control-panel iframe and nowhere else. Pages are server-rendered with no script: every value from outside
//! goes through [`escape_html`].

use http::{HeaderValue, StatusCode, header};
use shared::StoreHash;
use shared::web::{self, WebResponse, escape_html};

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
        let page = respond_for_store(&store, StatusCode::OK, "Settings", "<p>x</p>");
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

    pub fn html(&self) -> String {
        let (class, role) = match self.tone {
            Tone::Success => ("notice success", "status"),
            Tone::Warning => ("notice warning", "alert"),
            Tone::Error => ("notice error", "alert"),
        };
        format!(
            "<div class=\"{class}\" role=\"{role}\">{}</div>",
            escape_html(&self.text)
        )
    }
}

/// A page of one store (the settings page, the install's answers), which only that store's control panel may
/// frame. `body` must already be safe HTML.
pub fn respond_for_store(store: &StoreHash, status: StatusCode, title: &str, body: &str) -> WebResponse {
    framed(status, title, body, &store_frame_ancestors(store))
}

/// A complete HTML page with the app's headers that names no store: it must not carry forms or merchant data
/// (see [`ANY_STORE_FRAME_ANCESTORS`]). `body` must already be safe HTML.
pub fn respond(status: StatusCode, title: &str, body: &str) -> WebResponse {
    framed(status, title, body, ANY_STORE_FRAME_ANCESTORS)
}

fn framed(status: StatusCode, title: &str, body: &str, frame_ancestors: &str) -> WebResponse {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        title = escape_html(title),
    );
    let mut response = web::html(status, html);
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
        &format!(
            "<h1>{}</h1><p class=\"message\">{}</p>",
            escape_html(heading),
            escape_html(text)
        ),
    )
}

/// Adds a `Set-Cookie` header.
pub fn with_cookie(mut response: WebResponse, cookie: &str) -> WebResponse {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

const STYLE: &str = "
:root{--ink:#313440;--muted:#5e637a;--line:#d9dce9;--blue:#3c64f4;--bg:#f6f7fc;--ok:#1d7a46;--warn:#8a5a00;--bad:#b42318}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}
main{max-width:880px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:0 0 12px}h3{font-size:15px;margin:20px 0 8px}
.who,.muted{color:var(--muted);font-size:13px}
section,.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:20px;margin:16px 0}
.notice{border-radius:6px;padding:12px 16px;margin:12px 0;border:1px solid}
.success{background:#edf8f1;border-color:#b7e1c6;color:var(--ok)}.warning{background:#fff7e6;border-color:#f3d28a;color:var(--warn)}
.error{background:#fdf0ef;border-color:#f2b8b3;color:var(--bad)}
.problems ul{margin:6px 0 0 18px;padding:0}.problems a{color:var(--bad)}
label{display:block;font-weight:600;margin:12px 0 4px}label.inline{display:flex;gap:8px;align-items:flex-start;font-weight:400}
input[type=text],input[type=url],input[type=number]{width:100%;max-width:520px;padding:8px 10px;border:1px solid var(--line);border-radius:6px;font:inherit}
input[type=number]{max-width:120px}input[aria-invalid=true]{border-color:var(--bad)}
.field-error{color:var(--bad);margin:4px 0 0;font-size:13px}.hint{color:var(--muted);font-size:13px;margin:2px 0 0}
.option{border:1px solid var(--line);border-radius:8px;padding:12px 16px;margin:10px 0}
.option>label{margin:0}.details{margin:8px 0 0 26px}
.only-sms,.only-general,.only-inferred{display:none}
form:has(#option-sms_checkbox:checked) .only-sms,form:has(#option-general_marketing:checked) .only-general,
form:has(#option-inferred:checked) .only-inferred{display:block}
.preview{border:1px dashed var(--line);border-radius:6px;padding:12px;background:#fafbff;margin-top:12px}
.preview label{font-weight:400;display:flex;gap:8px;margin:0}
.row{display:flex;gap:24px;flex-wrap:wrap}
.actions{display:flex;gap:12px;margin-top:16px}
button{font:inherit;font-weight:600;border-radius:6px;padding:9px 18px;border:1px solid var(--blue);background:var(--blue);color:#fff;cursor:pointer}
button.secondary{background:#fff;color:var(--blue)}
button.danger{background:var(--bad);border-color:var(--bad)}
progress{width:100%;max-width:520px;height:14px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
.counts td:last-child,.counts th:last-child{text-align:right}
ol.steps{margin:6px 0 0 18px;padding:0}
";
