//! The one-click web opt-out page (`GET`/`POST /stop/{token}`), for messages from senders that cannot receive
//! replies (alphanumeric sender IDs): FCC 24-18 makes a designated website a per-se revocation method.
//!
//! No login and no personal data asked: the token (an [`OptOutLink`], created by the send function) says
//! which number at which store. `GET` only shows the page (link scanners and previews fetch links, so a `GET`
//! must never opt anyone out); `POST` records `OptOut(WebPage{ip, user_agent})` through
//! [`consent_changes::record`] (suppression, cancelled reminders, write-back, `consent.changed`). Posting
//! again changes nothing. Unknown and expired tokens get a friendly page that says how else to opt out.

use crate::Deps;
use lambda_http::request::RequestContext;
use lambda_http::{Error, Request, RequestExt};
use shared::consent::{ConsentEvent, ConsentEventKind, OptOutMethod, Purpose};
use shared::consent_changes;
use shared::db::DbError;
use shared::model::OptOutLink;
use shared::replies::{consent_anchor, opted_out};
use shared::web::{self, WebResponse, escape_html};
use tracing::Instrument;

/// Longest user agent kept as evidence.
const MAX_USER_AGENT_CHARS: usize = 512;

pub async fn page(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let _ = request;
    Ok(respond(show(deps, token).await))
}

pub async fn submit(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    Ok(respond(opt_out(deps, request, token).await))
}

/// What the page shows.
enum Outcome {
    /// The button, for a number still subscribed (or never asked).
    Confirm {
        brand: String,
        masked: String,
        action: String,
    },
    Done {
        brand: String,
        masked: String,
    },
    UnknownLink,
}

async fn show(deps: &Deps, token: &str) -> Result<Outcome, DbError> {
    let Some((link, brand)) = link(deps, token).await? else {
        return Ok(Outcome::UnknownLink);
    };
    let ledger = deps.aws.db.ledger(&link.store_hash, &link.phone).await?;
    let masked = link.phone.masked();
    Ok(if opted_out(&ledger) {
        Outcome::Done { brand, masked }
    } else {
        Outcome::Confirm {
            brand,
            masked,
            action: deps.app_url.join(&format!("/stop/{token}")),
        }
    })
}

async fn opt_out(deps: &Deps, request: &Request, token: &str) -> Result<Outcome, OptOutError> {
    let Some((link, brand)) = link(deps, token).await? else {
        return Ok(Outcome::UnknownLink);
    };
    let span = shared::logging::store_span(&link.store_hash);
    async move {
        let now = deps.clock.now();
        let ledger = deps.aws.db.ledger(&link.store_hash, &link.phone).await?;
        let masked = link.phone.masked();
        if opted_out(&ledger) {
            tracing::info!(phone = %link.phone, "web opt-out for a number already opted out");
            return Ok(Outcome::Done { brand, masked });
        }
        let (ip, user_agent) = evidence(request);
        // Two clicks (or two tabs) on one link record one opt-out; after a new opt-in the link works again.
        let key = format!("web:{token}:{}", consent_anchor(&ledger).unwrap_or("none"));
        let event = ConsentEvent::new(
            link.store_hash.clone(),
            link.phone.clone(),
            Purpose::Marketing,
            now,
            now,
            key,
            ConsentEventKind::OptOut(OptOutMethod::WebPage { ip, user_agent }),
        );
        consent_changes::record(&deps.aws, &event, now).await?;
        Ok(Outcome::Done { brand, masked })
    }
    .instrument(span)
    .await
}

#[derive(Debug, thiserror::Error)]
enum OptOutError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Change(#[from] consent_changes::ChangeError),
}

/// The link behind a token and the brand of its store.
async fn link(deps: &Deps, token: &str) -> Result<Option<(OptOutLink, String)>, DbError> {
    // Tokens are 22 URL-safe characters; anything else is not worth a lookup.
    let plausible = (16..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plausible {
        return Ok(None);
    }
    let db = &deps.aws.db;
    let Some(link) = db
        .get_token::<OptOutLink>(OptOutLink::TOKEN_KIND, token, deps.clock.now())
        .await?
    else {
        return Ok(None);
    };
    let brand = db
        .store_with_settings(&link.store_hash)
        .await?
        .and_then(|(_, settings)| settings)
        .map(|s| s.brand_name)
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| "this store".to_owned());
    Ok(Some((link, brand)))
}

/// The evidence a web opt-out keeps: the caller's IP and user agent.
fn evidence(request: &Request) -> (Option<String>, Option<String>) {
    let ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
        _ => None,
    };
    let user_agent = request
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect());
    (ip, user_agent)
}

fn respond<E: std::fmt::Display>(outcome: Result<Outcome, E>) -> WebResponse {
    let (status, title, body) = match outcome {
        Ok(Outcome::Confirm { brand, masked, action }) => (
            http::StatusCode::OK,
            "Stop texts",
            format!(
                "<h1>Stop texts from {brand}?</h1>\
                 <p>Texts from {brand} go to <strong>{masked}</strong>. One click and no more marketing texts go to \
                 this number.</p>\
                 <form method=\"post\" action=\"{action}\"><button type=\"submit\" id=\"stop\">Stop texts</button></form>\
                 <p class=\"small\">No account or login is needed. You can also reply STOP to any text.</p>",
                brand = escape_html(&brand),
                masked = escape_html(&masked),
                action = escape_html(&action),
            ),
        ),
        Ok(Outcome::Done { brand, masked }) => (
            http::StatusCode::OK,
            "You are unsubscribed",
            format!(
                "<h1 id=\"done\">You are unsubscribed</h1>\
                 <p>{brand} will not send marketing texts to <strong>{masked}</strong> any more.</p>\
                 <p class=\"small\">Changed your mind? Text START to the store's number.</p>",
                brand = escape_html(&brand),
                masked = escape_html(&masked),
            ),
        ),
        Ok(Outcome::UnknownLink) => (
            http::StatusCode::NOT_FOUND,
            "Link not valid",
            "<h1>This link is not valid any more</h1>\
             <p>It may have expired. To stop texts, reply STOP to any text from the store, or contact the store.</p>"
                .to_owned(),
        ),
        Err(error) => {
            tracing::error!(%error, "web opt-out failed");
            (
                http::StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                "<h1>Something went wrong</h1><p>Nothing was changed. Please try again in a moment, or reply STOP to \
                 any text from the store.</p>"
                    .to_owned(),
            )
        }
    };
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
         button{{font-size:1.1rem;padding:.7rem 1.6rem;border:0;border-radius:.4rem;background:#1a1a1a;color:#fff;cursor:pointer}}\
         .small{{color:#555;font-size:.9rem}}</style></head><body>{body}</body></html>"
    );
    let mut response = web::html(status, html);
    let headers = response.headers_mut();
    // The token is a capability: keep it out of caches and referrers; the one-click form must not be framed.
    for (name, value) in [
        ("cache-control", "no-store"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
        (
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
    ] {
        headers.insert(name, http::HeaderValue::from_static(value));
    }
    response
}
