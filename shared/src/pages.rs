//! The one HTML frame of every page (doctype, language, viewport, title, style), as a [`maud`] template:
//! every value spliced into a template is escaped unless it is wrapped in [`PreEscaped`], and the templates
//! are checked when the crate compiles. Each function adds its own headers (CSP, framing, caching) to the
//! [`WebResponse`](crate::web::WebResponse) it builds from a page.

use maud::DOCTYPE;
pub use maud::{Markup, PreEscaped, Render, html};

/// Who reads a page, which decides its style and whether search engines may keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The merchant, in BigCommerce's control panel: the app's style, the content in `<main>`.
    Merchant,
    /// A shopper following a link from a text: a small plain page, never indexed (its URL is a capability).
    Shopper,
}

/// A complete HTML document: the frame around `body`.
pub fn document(reader: Reader, title: &str, body: Markup) -> String {
    let (style, noindex) = match reader {
        Reader::Merchant => (MERCHANT_STYLE, false),
        Reader::Shopper => (SHOPPER_STYLE, true),
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if noindex {
                    meta name="robots" content="noindex";
                }
                title { (title) }
                style { (PreEscaped(style)) }
            }
            body {
                @if reader == Reader::Merchant {
                    main { (body) }
                } @else {
                    (body)
                }
            }
        }
    }
    .into_string()
}

const SHOPPER_STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;\
line-height:1.5;color:#222}\
button{font-size:1.1rem;padding:.7rem 1.6rem;border:0;border-radius:.4rem;background:#1a1a1a;color:#fff;cursor:pointer}\
.small{color:#555;font-size:.9rem}";

/// The control panel's pages: forms, notices, tables, the settings sections.
const MERCHANT_STYLE: &str = "
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_escapes_what_it_is_given() {
        let hostile = r#"<script>alert(1)</script> & "quotes""#;
        let page = document(Reader::Merchant, hostile, html! { h1 { (hostile) } });
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;";
        assert!(page.contains(&format!("<title>{escaped}</title>")), "{page}");
        assert!(page.contains(&format!("<main><h1>{escaped}</h1></main>")), "{page}");
        assert!(!page.contains("<script>"), "{page}");
    }

    #[test]
    fn shopper_pages_are_not_indexed() {
        let page = document(Reader::Shopper, "Stop texts", html! { p { "x" } });
        assert!(page.starts_with("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"));
        assert!(page.contains("<meta name=\"robots\" content=\"noindex\">"));
        assert!(page.ends_with("<body><p>x</p></body></html>"));
        let merchant = document(Reader::Merchant, "Settings", html! { p { "x" } });
        assert!(!merchant.contains("robots"));
    }
}
