//! Cart tracking, the pure part: a BigCommerce checkout becomes the [`Cart`] the recovery flow reads, with
//! its reminder timer.
//!
//! - The timer runs from the cart's last activity: the moment we first see the cart's contents (items,
//!   amounts, email, phone, region) differ from what we hold. Events repeat and arrive out of order, so an
//!   event that shows nothing new never resets the timer; and the time is our clock's, the same clock the
//!   sweep and the consent engine use.
//! - `next_due_at` is the due time of step `reminders_sent + 1` of
//!   [`reminder_schedule`](crate::consent::reminder_schedule) for the phone's market (unknown without a
//!   phone: the strictest schedule). A step past its expiry ends the sequence (`Expired`), as do conversion
//!   and deletion, which are final: a later event never reopens such a cart.
//! - Stores that are not connected or are uninstalled get no timer at all.
//! - BigCommerce's own `store/cart/abandoned` (no activity for an hour) is a fallback: for a cart we never
//!   saw, or whose contents changed unseen, the last activity is taken as an hour before now.

use crate::bigcommerce::Checkout;
use crate::consent::{AddressHint, Market, Recipient, reminder_schedule};
use crate::contacts::parse_phone;
use crate::model::{Cart, CartStatus, LineItem, Settings};
use crate::phone::InvalidPhone;
use crate::{Phone, StoreHash};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

/// How long BigCommerce waits without activity before `store/cart/abandoned`.
pub const BIGCOMMERCE_ABANDONMENT_MINUTES: i64 = 60;

/// What a cart holds now, as read from its checkout.
#[derive(Debug, Clone, PartialEq)]
pub struct CartContents {
    pub customer_id: u64,
    pub channel_id: u64,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub phone: Option<Phone>,
    pub country_code: Option<String>,
    pub state_code: Option<String>,
    pub line_items: Vec<LineItem>,
    pub amount: Decimal,
    pub currency: String,
}

impl CartContents {
    /// Reads a checkout. `phone` is the number to text about it: its [`proven_phone`].
    pub fn from_checkout(checkout: &Checkout, phone: Option<Phone>) -> Self {
        let billing = checkout.billing_address.as_ref();
        let line_items: Vec<LineItem> = checkout
            .cart
            .line_items
            .all()
            .map(|item| LineItem {
                product_id: item.product_id,
                variant_id: item.variant_id,
                name: item.name.clone(),
                quantity: item.quantity,
                price: item.unit_price(),
                image_url: item.image_url.clone(),
            })
            .collect();
        let amount = line_items
            .iter()
            .map(|i| i.price * Decimal::from(i.quantity))
            .sum::<Decimal>()
            .normalize();
        let text = |value: Option<&str>| value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
        Self {
            customer_id: checkout.cart.customer_id,
            channel_id: checkout.cart.channel_id,
            email: text(checkout.cart.email.as_deref())
                .or_else(|| text(billing.and_then(|b| b.email.as_deref())))
                .map(|e| e.to_lowercase()),
            first_name: text(billing.map(|b| b.first_name.as_str())),
            phone,
            country_code: text(billing.map(|b| b.country_code.as_str())).map(|c| c.to_ascii_uppercase()),
            state_code: text(billing.map(|b| b.state_or_province_code.as_str())),
            line_items,
            amount,
            currency: checkout.cart.currency.code.to_ascii_uppercase(),
        }
    }

    fn of(cart: &Cart) -> Self {
        Self {
            customer_id: cart.customer_id,
            channel_id: cart.channel_id,
            email: cart.email.clone(),
            first_name: cart.first_name.clone(),
            phone: cart.phone.clone(),
            country_code: cart.country_code.clone(),
            state_code: cart.state_code.clone(),
            line_items: cart.line_items.clone(),
            amount: cart.amount,
            currency: cart.currency.clone(),
        }
    }
}

/// The checkout's billing phone read with its billing country: `None` when it has none, an error when it
/// cannot be texted.
pub fn billing_phone(checkout: &Checkout) -> Option<Result<Phone, InvalidPhone>> {
    let raw = checkout.billing_phone().map(str::trim).filter(|raw| !raw.is_empty())?;
    let country = checkout
        .billing_address
        .as_ref()
        .map(|b| b.country_code.as_str())
        .filter(|c| c.len() == 2);
    Some(parse_phone(raw, country))
}

/// The number a checkout proves is its shopper's, the only number a reminder about it may go to: the billing
/// phone, else, for a signed-in customer, `customer_phone` (their own contact's number). A number ticked in
/// the consent checkbox is never one on its own: whoever built the cart may have typed anyone's number there.
pub fn proven_phone(checkout: &Checkout, customer_phone: Option<&Phone>) -> Option<Phone> {
    billing_phone(checkout)
        .and_then(Result::ok)
        .or_else(|| customer_phone.filter(|_| checkout.cart.customer_id != 0).cloned())
}

/// Why the cart is being looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CartSignal {
    /// Created, updated, or re-read for another reason.
    Seen,
    /// BigCommerce says no activity for an hour.
    Abandoned,
}

/// The cart record after reading `contents`. `changed_at` is BigCommerce's own time of the cart's last
/// change (the checkout's `updated_time`), when it gave one: the reminder timer starts there, not when we
/// heard of the change, so a webhook delivered late cannot push a reminder past the 48-hour carrier limit.
/// `reminders` is the store's settings when reminders may be scheduled (installed and connected), `None`
/// otherwise.
#[allow(clippy::too_many_arguments)] // the cart's identity, what was read and when: no natural grouping
pub fn track(
    existing: Option<Cart>,
    store: &StoreHash,
    cart_id: &str,
    contents: CartContents,
    signal: CartSignal,
    changed_at: Option<DateTime<Utc>>,
    reminders: Option<&Settings>,
    now: DateTime<Utc>,
) -> Cart {
    let abandoned_since = now - Duration::minutes(BIGCOMMERCE_ABANDONMENT_MINUTES);
    // BigCommerce's time, never in our future (clocks differ).
    let changed_at = changed_at.map(|t| t.min(now));
    let mut cart = match existing {
        Some(cart) if matches!(cart.status, CartStatus::Converted | CartStatus::Deleted) => return cart,
        Some(mut cart) => {
            if CartContents::of(&cart) != contents {
                cart.last_activity_at = match (changed_at, signal) {
                    (Some(at), _) => at,
                    (None, CartSignal::Seen) => now,
                    (None, CartSignal::Abandoned) => abandoned_since.max(cart.last_activity_at),
                };
                apply(&mut cart, contents);
                cart.status = CartStatus::Active;
            }
            cart
        }
        None => {
            let mut cart = blank(store, cart_id, now);
            cart.last_activity_at = match (changed_at, signal) {
                (Some(at), _) => at,
                (None, CartSignal::Seen) => now,
                (None, CartSignal::Abandoned) => abandoned_since,
            };
            apply(&mut cart, contents);
            cart
        }
    };
    if signal == CartSignal::Abandoned && cart.status == CartStatus::Active {
        cart.status = CartStatus::Abandoned;
    }
    schedule(&mut cart, reminders, now);
    cart.updated_at = now;
    cart
}

/// Ends the cart's sequence for good: converted (with the order) or deleted.
pub fn finish(mut cart: Cart, status: CartStatus, order_id: Option<u64>, now: DateTime<Utc>) -> Cart {
    if cart.status == CartStatus::Converted {
        // Converted is the last word: a late deletion event (BigCommerce deletes converted carts) changes
        // nothing, and the order id stays.
        cart.converted_order_id = cart.converted_order_id.or(order_id);
    } else {
        cart.status = status;
        if status == CartStatus::Converted {
            cart.converted_order_id = order_id;
        }
    }
    cart.next_due_at = None;
    cart.updated_at = now;
    cart
}

/// The record of a cart we never saw open, ended (an out-of-order conversion or deletion): kept so that late
/// events about it find it final.
pub fn ended_unseen(
    store: &StoreHash,
    cart_id: &str,
    status: CartStatus,
    order_id: Option<u64>,
    now: DateTime<Utc>,
) -> Cart {
    finish(blank(store, cart_id, now), status, order_id, now)
}

fn blank(store: &StoreHash, cart_id: &str, now: DateTime<Utc>) -> Cart {
    Cart {
        store_hash: store.clone(),
        cart_id: cart_id.to_owned(),
        customer_id: 0,
        channel_id: 0,
        email: None,
        first_name: None,
        phone: None,
        country_code: None,
        state_code: None,
        line_items: Vec::new(),
        amount: Decimal::ZERO,
        currency: String::new(),
        status: CartStatus::Active,
        last_activity_at: now,
        reminders_sent: 0,
        next_due_at: None,
        converted_order_id: None,
        updated_at: now,
    }
}

/// The market the cart's phone is in (unknown without a phone), with the billing address as a hint.
pub fn market(cart: &Cart) -> Market {
    let Some(phone) = &cart.phone else {
        return Market::Unknown;
    };
    let hint = AddressHint {
        country_code: cart.country_code.as_deref(),
        state_or_province: cart.state_code.as_deref(),
    };
    Recipient::resolve(phone, &[hint]).market
}

/// Sets `next_due_at` from the schedule, or ends the sequence when the next step has expired.
fn schedule(cart: &mut Cart, reminders: Option<&Settings>, now: DateTime<Utc>) {
    if cart.status.is_final() && cart.status != CartStatus::Expired {
        cart.next_due_at = None;
        return;
    }
    let Some(settings) = reminders else {
        cart.next_due_at = None;
        return;
    };
    let next_step = cart.reminders_sent.saturating_add(1);
    let timing = reminder_schedule(settings, market(cart), cart.last_activity_at)
        .into_iter()
        .find(|t| t.step == next_step);
    match timing {
        Some(timing) if timing.expires > now => {
            cart.next_due_at = Some(timing.due);
            if cart.status == CartStatus::Expired {
                cart.status = CartStatus::Active;
            }
        }
        Some(_) => {
            cart.next_due_at = None;
            cart.status = CartStatus::Expired;
        }
        // Every step of the schedule was sent.
        None => cart.next_due_at = None,
    }
}

fn apply(cart: &mut Cart, contents: CartContents) {
    cart.customer_id = contents.customer_id;
    cart.channel_id = contents.channel_id;
    cart.email = contents.email;
    cart.first_name = contents.first_name;
    cart.phone = contents.phone;
    cart.country_code = contents.country_code;
    cart.state_code = contents.state_code;
    cart.line_items = contents.line_items;
    cart.amount = contents.amount;
    cart.currency = contents.currency;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MerchantUser;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn settings() -> Settings {
        Settings::defaults(
            MerchantUser {
                id: 1,
                email: "o@example.com".into(),
            },
            "Acme",
            t("2026-01-01T00:00:00Z"),
        )
    }

    fn checkout(phone: &str, country: &str, quantity: u32) -> Checkout {
        serde_json::from_value(serde_json::json!({
            "id": "c1",
            "cart": {"id": "c1", "customer_id": 0, "channel_id": 1, "email": "Guest@Example.com",
                     "currency": {"code": "usd"},
                     "line_items": {"physical_items": [{"id": "i1", "product_id": 5, "variant_id": 6, "name": "Mug",
                                    "quantity": quantity, "list_price": 12.5, "sale_price": 10.0,
                                    "image_url": "https://cdn.example.com/mug.jpg"}]}},
            "billing_address": {"first_name": "Ann", "last_name": "Lee", "country_code": country,
                                "state_or_province_code": "FL", "phone": phone},
            "grand_total": 20.0
        }))
        .unwrap()
    }

    fn store() -> StoreHash {
        StoreHash::parse("abc123").unwrap()
    }

    fn contents(quantity: u32) -> CartContents {
        let c = checkout("+1 305 555 0100", "US", quantity);
        let phone = Phone::parse(c.billing_phone().unwrap(), Some("US")).ok();
        CartContents::from_checkout(&c, phone)
    }

    #[test]
    fn only_the_billing_phone_or_a_signed_in_customers_own_number_is_proven() {
        let own = Phone::parse("+61412999888", None).unwrap();
        // The billing phone, read with the billing country.
        let billed = checkout("0412 345 678", "AU", 1);
        assert_eq!(proven_phone(&billed, Some(&own)).unwrap().as_e164(), "+61412345678");
        // A guest without one proves nothing, whatever number is offered.
        let unbilled = checkout("", "AU", 1);
        assert!(billing_phone(&unbilled).is_none());
        assert_eq!(proven_phone(&unbilled, Some(&own)), None);
        // A signed-in customer's own number stands in until the billing step.
        let mut signed_in = unbilled.clone();
        signed_in.cart.customer_id = 7;
        assert_eq!(proven_phone(&signed_in, Some(&own)), Some(own.clone()));
        assert_eq!(proven_phone(&signed_in, None), None);
        // A billing phone that cannot be texted is an error, and proves nothing.
        let landline = checkout("(02) 9374 4000", "AU", 1);
        assert!(matches!(billing_phone(&landline), Some(Err(_))));
        assert_eq!(proven_phone(&landline, None), None);
    }

    #[test]
    fn reads_a_checkout_into_cart_contents() {
        let c = contents(2);
        assert_eq!(c.email.as_deref(), Some("guest@example.com"));
        assert_eq!(c.first_name.as_deref(), Some("Ann"));
        assert_eq!(c.phone.as_ref().unwrap().as_e164(), "+13055550100");
        assert_eq!(c.country_code.as_deref(), Some("US"));
        assert_eq!(c.state_code.as_deref(), Some("FL"));
        assert_eq!(c.currency, "USD");
        assert_eq!(c.line_items[0].price, Decimal::new(10, 0));
        assert_eq!(c.amount, Decimal::new(20, 0));
    }

    #[test]
    fn the_timer_starts_at_bigcommerces_change_time_never_in_our_future() {
        let s = settings();
        let changed = t("2026-03-02T15:00:00Z");
        // Heard of 47 hours late: the US reminder's 48 hours run from the shopper's change.
        let late = changed + Duration::hours(47);
        let cart = track(
            None,
            &store(),
            "c1",
            contents(1),
            CartSignal::Seen,
            Some(changed),
            Some(&s),
            late,
        );
        assert_eq!(cart.last_activity_at, changed);
        assert_eq!(cart.next_due_at, Some(changed + Duration::minutes(30)));
        let abandoned = track(
            None,
            &store(),
            "c2",
            contents(1),
            CartSignal::Abandoned,
            Some(changed),
            Some(&s),
            late,
        );
        assert_eq!(abandoned.last_activity_at, changed);
        // A store clock ahead of ours cannot start the timer in our future.
        let ahead = track(
            None,
            &store(),
            "c3",
            contents(1),
            CartSignal::Seen,
            Some(late),
            Some(&s),
            changed,
        );
        assert_eq!(ahead.last_activity_at, changed);
    }

    #[test]
    fn the_timer_starts_at_the_first_sighting_and_resets_only_on_change() {
        let s = settings();
        let t0 = t("2026-03-02T15:00:00Z");
        let cart = track(None, &store(), "c1", contents(1), CartSignal::Seen, None, Some(&s), t0);
        assert_eq!(cart.last_activity_at, t0);
        assert_eq!(cart.next_due_at, Some(t0 + Duration::minutes(30)));
        assert_eq!(cart.status, CartStatus::Active);

        // The same event again, later: nothing new, the timer stands.
        let t1 = t0 + Duration::minutes(10);
        let again = track(
            Some(cart.clone()),
            &store(),
            "c1",
            contents(1),
            CartSignal::Seen,
            None,
            Some(&s),
            t1,
        );
        assert_eq!(again.next_due_at, Some(t0 + Duration::minutes(30)));

        // One more item: the timer restarts, and what was sent is kept.
        let mut sent = again.clone();
        sent.reminders_sent = 0;
        let changed = track(
            Some(sent),
            &store(),
            "c1",
            contents(2),
            CartSignal::Seen,
            None,
            Some(&s),
            t1,
        );
        assert_eq!(changed.last_activity_at, t1);
        assert_eq!(changed.next_due_at, Some(t1 + Duration::minutes(30)));
    }

    #[test]
    fn no_timer_without_a_connected_store_and_none_after_the_last_step() {
        let s = settings();
        let t0 = t("2026-03-02T15:00:00Z");
        let cart = track(None, &store(), "c1", contents(1), CartSignal::Seen, None, None, t0);
        assert_eq!(cart.next_due_at, None);
        // A US number gets one reminder per cart: once it went, nothing more is due.
        let mut reminded = track(None, &store(), "c1", contents(1), CartSignal::Seen, None, Some(&s), t0);
        reminded.reminders_sent = 1;
        let later = track(
            Some(reminded),
            &store(),
            "c1",
            contents(2),
            CartSignal::Seen,
            None,
            Some(&s),
            t0,
        );
        assert_eq!(later.next_due_at, None);
        assert_eq!(later.status, CartStatus::Active);
    }

    #[test]
    fn abandonment_is_a_fallback_that_never_delays_a_known_timer() {
        let s = settings();
        let t0 = t("2026-03-02T15:00:00Z");
        let unseen = track(
            None,
            &store(),
            "c1",
            contents(1),
            CartSignal::Abandoned,
            None,
            Some(&s),
            t0,
        );
        assert_eq!(unseen.status, CartStatus::Abandoned);
        assert_eq!(unseen.last_activity_at, t0 - Duration::hours(1));
        assert_eq!(unseen.next_due_at, Some(t0 - Duration::minutes(30)));

        let seen = track(None, &store(), "c1", contents(1), CartSignal::Seen, None, Some(&s), t0);
        let abandoned = track(
            Some(seen),
            &store(),
            "c1",
            contents(1),
            CartSignal::Abandoned,
            None,
            Some(&s),
            t0 + Duration::hours(1),
        );
        assert_eq!(abandoned.status, CartStatus::Abandoned);
        assert_eq!(abandoned.next_due_at, Some(t0 + Duration::minutes(30)));
    }

    #[test]
    fn expiry_ends_the_sequence_and_a_change_restarts_it() {
        let s = settings();
        let t0 = t("2026-03-02T15:00:00Z");
        let cart = track(None, &store(), "c1", contents(1), CartSignal::Seen, None, Some(&s), t0);
        let late = t0 + Duration::hours(49);
        let expired = track(
            Some(cart),
            &store(),
            "c1",
            contents(1),
            CartSignal::Seen,
            None,
            Some(&s),
            late,
        );
        assert_eq!(expired.status, CartStatus::Expired);
        assert_eq!(expired.next_due_at, None);
        let revived = track(
            Some(expired),
            &store(),
            "c1",
            contents(3),
            CartSignal::Seen,
            None,
            Some(&s),
            late,
        );
        assert_eq!(revived.status, CartStatus::Active);
        assert_eq!(revived.next_due_at, Some(late + Duration::minutes(30)));
    }

    #[test]
    fn late_endings_of_unseen_carts_are_kept_final() {
        let t0 = t("2026-03-02T15:00:00Z");
        let ended = ended_unseen(&store(), "c9", CartStatus::Converted, Some(7), t0);
        assert_eq!(
            (ended.status, ended.converted_order_id, ended.next_due_at),
            (CartStatus::Converted, Some(7), None)
        );
        let late = track(
            Some(ended),
            &store(),
            "c9",
            contents(1),
            CartSignal::Seen,
            None,
            Some(&settings()),
            t0,
        );
        assert_eq!(late.status, CartStatus::Converted);
    }

    #[test]
    fn conversion_and_deletion_are_final() {
        let s = settings();
        let t0 = t("2026-03-02T15:00:00Z");
        let cart = track(None, &store(), "c1", contents(1), CartSignal::Seen, None, Some(&s), t0);
        let converted = finish(cart, CartStatus::Converted, Some(101), t0);
        assert_eq!(converted.status, CartStatus::Converted);
        assert_eq!(converted.next_due_at, None);
        let deleted_late = finish(converted.clone(), CartStatus::Deleted, None, t0);
        assert_eq!(deleted_late.status, CartStatus::Converted);
        assert_eq!(deleted_late.converted_order_id, Some(101));
        let reread = track(
            Some(converted),
            &store(),
            "c1",
            contents(4),
            CartSignal::Seen,
            None,
            Some(&s),
            t0,
        );
        assert_eq!(reread.status, CartStatus::Converted);
        assert_eq!(reread.next_due_at, None);
    }

    #[test]
    fn markets_come_from_the_phone_and_unknown_without_one() {
        let s = settings();
        let t0 = t("2026-03-02T15:00:00Z");
        let mut c = contents(1);
        c.phone = None;
        let cart = track(None, &store(), "c1", c, CartSignal::Seen, None, Some(&s), t0);
        assert_eq!(market(&cart), Market::Unknown);
        let au = checkout("0412 345 678", "AU", 1);
        let phone = Phone::parse(au.billing_phone().unwrap(), Some("AU")).ok();
        let cart = track(
            None,
            &store(),
            "c2",
            CartContents::from_checkout(&au, phone),
            CartSignal::Seen,
            None,
            Some(&s),
            t0,
        );
        assert_eq!(market(&cart), Market::Australia);
    }
}
