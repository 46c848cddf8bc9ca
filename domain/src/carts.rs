//! Cart tracking, the pure part: a BigCommerce checkout becomes the [`Cart`] the recovery flow reads, with
//! its reminder timer.
//!
//! - The timer runs from the cart's last activity: the moment we first see the cart's contents (items,
//!   amounts, email, phone, region) differ from what we hold. Events repeat and arrive out of order, so an
//!   event that shows nothing new never resets the timer; and the time is our clock's, the same clock the
//!   sweep and the consent engine use.
//! - `next_due_at` is the due time of step `reminders_sent + 1` of
//!   [`reminder_schedule`] for the phone's market (unknown without a
//!   phone: the strictest schedule). A step past its expiry ends the sequence (`Expired`), as do conversion
//!   and deletion, which are final: a later event never reopens such a cart.
//! - Stores that are not connected or are uninstalled get no timer at all.
//! - BigCommerce's own `store/cart/abandoned` (no activity for an hour) is a fallback: for a cart we never
//!   saw, or whose contents changed unseen, the last activity is taken as an hour before now.

use crate::consent::{AddressHint, Market, Recipient, reminder_schedule};
use crate::model::{Cart, CartStatus, LineItem, Settings};
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

    fn store() -> StoreHash {
        StoreHash::parse("abc123").unwrap()
    }

    /// A Miami guest's cart of `quantity` mugs at 10 USD (what the adapter reads from such a checkout).
    fn contents(quantity: u32) -> CartContents {
        CartContents {
            customer_id: 0,
            channel_id: 1,
            email: Some("guest@example.com".into()),
            first_name: Some("Ann".into()),
            phone: Phone::parse("+1 305 555 0100", None).ok(),
            country_code: Some("US".into()),
            state_code: Some("FL".into()),
            line_items: vec![LineItem {
                product_id: 5,
                variant_id: Some(6),
                name: "Mug".into(),
                quantity,
                price: Decimal::new(10, 0),
                image_url: Some("https://cdn.example.com/mug.jpg".into()),
            }],
            amount: Decimal::new(10, 0) * Decimal::from(quantity),
            currency: "USD".into(),
        }
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
        let mut au = contents(1);
        au.phone = Phone::parse("0412 345 678", Some("AU")).ok();
        let cart = track(None, &store(), "c2", au, CartSignal::Seen, None, Some(&s), t0);
        assert_eq!(market(&cart), Market::Australia);
    }
}
