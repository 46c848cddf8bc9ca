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
use shared::infra::InfraError;
use shared::model::OptOutLink;
use shared::pages::{self, Reader, html};
use shared::replies::{consent_anchor, opted_out};
use shared::web::{self, WebResponse};
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

async fn opt_out(deps: &Deps, request: &Request, token: &str) -> Result<Outcome, InfraError> {
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
            html! {
                h1 { "Stop texts from " (brand) "?" }
                p {
                    "Texts from " (brand) " go to " strong { (masked) } ". One click and no more marketing texts \
                     go to this number."
                }
                form method="post" action=(action) {
                    button type="submit" id="stop" { "Stop texts" }
                }
                p class="small" { "No account or login is needed. You can also reply STOP to any text." }
            },
        ),
        Ok(Outcome::Done { brand, masked }) => (
            http::StatusCode::OK,
            "You are unsubscribed",
            html! {
                h1 id="done" { "You are unsubscribed" }
                p { (brand) " will not send marketing texts to " strong { (masked) } " any more." }
                p class="small" { "Changed your mind? Text START to the store's number." }
            },
        ),
        Ok(Outcome::UnknownLink) => (
            http::StatusCode::NOT_FOUND,
            "Link not valid",
            html! {
                h1 { "This link is not valid any more" }
                p {
                    "It may have expired. To stop texts, reply STOP to any text from the store, or contact the \
                     store."
                }
            },
        ),
        Err(error) => {
            tracing::error!(%error, "web opt-out failed");
            (
                http::StatusCode::SERVICE_UNAVAILABLE,
                "Please try again",
                html! {
                    h1 { "Something went wrong" }
                    p {
                        "Nothing was changed. Please try again in a moment, or reply STOP to any text from the \
                         store."
                    }
                },
            )
        }
    };
    let mut response = web::html(status, pages::document(Reader::Shopper, title, body));
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
