//! Recovery links (`GET /r/{token}`): re-create the cart, redirect into checkout, record the click.
//!
//! BigCommerce redirect URLs are single-use and exist only for carts created through the API, so the reminder
//! carries our own durable link and each click re-creates the shopper's cart (same items, customer and
//! channel) and asks for a fresh checkout URL. The re-created cart is remembered, so its order is credited to
//! the reminder. When the cart cannot be re-created, the shopper lands on the store's cart page; an unknown or
//! expired link gets a friendly page. One link re-creates at most [`RECREATE_LIMIT`] carts an hour (later
//! follows land on the cart page) and past [`FOLLOW_LIMIT`] follows an hour is answered without calling
//! BigCommerce, so hammering a link neither fills the store with carts nor spends its API quota. Link previews and crawlers (by user agent) get a plain page: they are
//! not the shopper, so they record no click and re-create no cart.

use crate::Deps;
use crate::consent::hex_digest;
use lambda_http::{Error, Request};
use shared::bigcommerce::{NewCart, NewLineItem, StoreClient};
use shared::db::DbError;
use shared::model::{Cart, CartStatus, RecoveryLink};
use shared::pages::{self, Reader, html};
use shared::recovery::{LinkToken, RecreatedCart, is_link_preview};
use shared::web::{self, WebResponse};
use tracing::Instrument;

/// Carts one link may re-create in [`RECREATE_WINDOW_MINUTES`]: a shopper who taps it a few times gets a fresh
/// checkout each time; a script hammering it does not fill the store with carts.
pub const RECREATE_LIMIT: u32 = 3;
pub const RECREATE_WINDOW_MINUTES: i64 = 60;
/// Follows of one link in the window after which it is answered without calling BigCommerce at all (the
/// cart page fallback reads the store's address), so a flood cannot spend the store's API quota.
pub const FOLLOW_LIMIT: u32 = 30;

pub async fn click(deps: &Deps, request: &Request, token: &str) -> Result<WebResponse, Error> {
    let Some(token) = LinkToken::parse(token) else {
        return Ok(link_unavailable());
    };
    let user_agent = request.headers().get("user-agent").and_then(|v| v.to_str().ok());
    if is_link_preview(user_agent) {
        return Ok(preview_page());
    }
    let now = deps.clock.now();
    let link = match deps
        .aws
        .db
        .get_token::<RecoveryLink>(RecoveryLink::TOKEN_KIND, token.as_str(), now)
        .await
    {
        Ok(Some(link)) => link,
        Ok(None) => return Ok(link_unavailable()),
        Err(error) => return Ok(try_again_later(&error)),
    };
    let span = shared::logging::store_span(&link.store_hash);
    let followed = follow(deps, token.as_str(), &link, now).instrument(span).await;
    Ok(followed.unwrap_or_else(|error| try_again_later(&error)))
}

async fn follow(
    deps: &Deps,
    token: &str,
    link: &RecoveryLink,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<WebResponse, DbError> {
    let db = &deps.aws.db;
    let Some(store) = db.get_store(&link.store_hash).await?.filter(|s| s.is_installed()) else {
        return Ok(link_unavailable());
    };
    if db.record_click(&link.store_hash, &link.cart_id, link.step, now).await? {
        tracing::info!(step = link.step, "recovery link clicked");
    }
    let follows = db
        .count_request(
            &format!("recovery-link:{}", hex_digest(token)),
            chrono::Duration::minutes(RECREATE_WINDOW_MINUTES),
            now,
        )
        .await?;
    if follows > u64::from(FOLLOW_LIMIT) {
        tracing::warn!(
            follows,
            "recovery link followed too often; answered without BigCommerce"
        );
        return Ok(followed_too_often());
    }
    let client = match deps.bigcommerce.store_client(&store).await {
        Ok(client) => client,
        Err(error) => {
            tracing::warn!(%error, "the store's access token could not be opened");
            return Ok(cart_unavailable());
        }
    };
    let cart = if follows <= u64::from(RECREATE_LIMIT) {
        db.get_cart(&link.store_hash, &link.cart_id).await?
    } else {
        // Re-created often enough in this window: the store's cart page instead of yet another cart.
        tracing::info!(follows, "recovery link re-created its cart often enough in this window");
        None
    };
    if let Some(cart) = cart.filter(|c| c.status != CartStatus::Converted)
        && let Some(checkout_url) = recreate(&client, &cart).await
    {
        db.put_recreated_cart(
            &link.store_hash,
            &checkout_url.cart_id,
            &RecreatedCart {
                cart_id: link.cart_id.clone(),
                step: link.step,
                clicked_at: now,
            },
        )
        .await?;
        return Ok(web::redirect(&checkout_url.url));
    }
    match client.store_information().await {
        Ok(info) if !info.secure_url.is_empty() => Ok(web::redirect(&format!(
            "{}/cart.php",
            info.secure_url.trim_end_matches('/')
        ))),
        Ok(_) => Ok(cart_unavailable()),
        Err(error) => {
            tracing::warn!(%error, "the store's address could not be read for the cart page fallback");
            Ok(cart_unavailable())
        }
    }
}

struct CheckoutUrl {
    cart_id: String,
    url: String,
}

/// A new API cart with the shopper's items, and its fresh checkout redirect URL. `None` when BigCommerce
/// refuses (products gone, customer deleted, outage): the caller falls back to the cart page.
async fn recreate(client: &StoreClient, cart: &Cart) -> Option<CheckoutUrl> {
    // Custom items have no product to add again; prices come from the catalogue as it is now.
    let line_items: Vec<NewLineItem> = cart
        .line_items
        .iter()
        .filter(|item| item.product_id != 0 && item.quantity > 0)
        .map(|item| NewLineItem {
            product_id: item.product_id,
            variant_id: item.variant_id,
            quantity: item.quantity,
            list_price: None,
        })
        .collect();
    if line_items.is_empty() {
        return None;
    }
    let new_cart = NewCart {
        customer_id: cart.customer_id,
        channel_id: cart.channel_id,
        line_items,
        currency: Some(cart.currency.clone()).filter(|c| !c.is_empty()),
        locale: None,
    };
    let created = match client.create_cart(&new_cart).await {
        Ok(created) => created,
        Err(error) => {
            tracing::warn!(%error, "the cart could not be re-created");
            return None;
        }
    };
    let urls = match created.redirect_urls {
        Some(urls) => urls,
        None => match client.create_redirect_urls(&created.id).await {
            Ok(urls) => urls,
            Err(error) => {
                tracing::warn!(%error, "no redirect URL for the re-created cart");
                return None;
            }
        },
    };
    Some(CheckoutUrl {
        cart_id: created.id,
        url: urls.checkout_url,
    })
}

fn page(status: http::StatusCode, title: &str, message: &str) -> WebResponse {
    let body = html! {
        h1 { (title) }
        p { (message) }
    };
    web::html(status, pages::document(Reader::Shopper, title, body))
}

fn link_unavailable() -> WebResponse {
    page(
        http::StatusCode::NOT_FOUND,
        "This link has expired",
        "This cart link is no longer valid. Your items may still be in your cart: visit the store to pick up \
         where you left off.",
    )
}

fn preview_page() -> WebResponse {
    page(
        http::StatusCode::OK,
        "Your saved cart",
        "Open this link on your phone to return to your cart and check out.",
    )
}

fn cart_unavailable() -> WebResponse {
    page(
        http::StatusCode::OK,
        "We could not restore your cart",
        "Some items may no longer be available. Please visit the store to continue shopping.",
    )
}

fn followed_too_often() -> WebResponse {
    page(
        http::StatusCode::TOO_MANY_REQUESTS,
        "Please try again later",
        "This link was opened many times in a short while. Please try it again in an hour, or visit the store \
         to pick up where you left off.",
    )
}

fn try_again_later(error: &DbError) -> WebResponse {
    tracing::error!(%error, "recovery link could not be followed");
    page(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "Please try again in a moment",
        "We could not open your cart just now. Please try the link again in a minute.",
    )
}
