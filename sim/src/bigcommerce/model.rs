//! The simulator's state: what a store holds, as plain data that tests can read, and how each record is
//! rendered in BigCommerce's documented shapes (v3 ISO dates and numbers, v2 RFC-2822 dates and string money).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// v2 dates, e.g. `Tue, 05 Mar 2019 21:40:11 +0000`.
pub(crate) fn rfc2822(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// v2 money, e.g. `69.8400`.
pub(crate) fn money_v2(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.abs();
    format!("{sign}{}.{:02}00", cents / 100, cents % 100)
}

/// v3 money is a JSON number.
pub(crate) fn money_v3(cents: i64) -> Value {
    json!(cents as f64 / 100.0)
}

pub(crate) fn to_cents(amount: f64) -> i64 {
    (amount * 100.0).round() as i64
}

/// The store's own details (`GET /v2/store`) and its owner.
#[derive(Debug, Clone)]
pub struct StoreSeed {
    pub name: String,
    pub domain: String,
    pub country_code: String,
    pub timezone: String,
    pub currency: String,
    pub admin_email: String,
    pub plan_name: String,
    pub owner_id: u64,
    pub owner_email: String,
}

impl Default for StoreSeed {
    fn default() -> Self {
        Self {
            name: "Sim Store".into(),
            domain: "sim-store.example.com".into(),
            country_code: "US".into(),
            timezone: "America/Chicago".into(),
            currency: "USD".into(),
            admin_email: "owner@sim-store.example.com".into(),
            plan_name: "Standard".into(),
            owner_id: 7654321,
            owner_email: "owner@sim-store.example.com".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CustomerGroup {
    pub id: u64,
    pub name: String,
    pub is_default: bool,
    pub is_group_for_guests: bool,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

impl CustomerGroup {
    pub(crate) fn to_v2(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "is_default": self.is_default,
            "category_access": {"type": "all"},
            "discount_rules": [],
            // The v2 groups spec shows `2023-07-17 06:30:41`, neither ISO-8601 nor RFC-2822.
            "date_created": self.date_created.format("%Y-%m-%d %H:%M:%S").to_string(),
            "date_modified": self.date_modified.format("%Y-%m-%d %H:%M:%S").to_string(),
            "is_group_for_guests": self.is_group_for_guests,
        })
    }
}

/// A customer address; `id` and `customer_id` are assigned by the simulator.
#[derive(Debug, Clone, Default)]
pub struct CustomerAddress {
    pub id: u64,
    pub customer_id: u64,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state_or_province: String,
    pub postal_code: String,
    pub country: String,
    pub country_code: String,
    pub phone: String,
}

impl CustomerAddress {
    fn to_v3(&self) -> Value {
        json!({
            "id": self.id,
            "customer_id": self.customer_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": self.company,
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "state_or_province": self.state_or_province,
            "postal_code": self.postal_code,
            "country": self.country,
            "country_code": self.country_code,
            "phone": self.phone,
            "address_type": "residential",
            "form_fields": [],
        })
    }
}

/// What a test supplies to create a customer.
#[derive(Debug, Clone)]
pub struct CustomerSeed {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    /// Free-form, as merchants and shoppers type it.
    pub phone: String,
    pub notes: String,
    pub customer_group_id: u64,
    pub accepts_product_review_abandoned_cart_emails: bool,
    pub addresses: Vec<CustomerAddress>,
    pub origin_channel_id: u64,
}

impl Default for CustomerSeed {
    fn default() -> Self {
        Self {
            email: "jane.doe@example.com".into(),
            first_name: "Jane".into(),
            last_name: "Doe".into(),
            company: String::new(),
            phone: String::new(),
            notes: String::new(),
            customer_group_id: 0,
            accepts_product_review_abandoned_cart_emails: false,
            addresses: Vec::new(),
            origin_channel_id: 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub phone: String,
    pub notes: String,
    pub customer_group_id: u64,
    pub accepts_product_review_abandoned_cart_emails: bool,
    pub addresses: Vec<CustomerAddress>,
    pub origin_channel_id: u64,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

impl Customer {
    pub(crate) fn to_v3(&self, with_addresses: bool, attributes: Option<Vec<&AttributeValue>>) -> Value {
        let mut v = json!({
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": self.company,
            "phone": self.phone,
            "registration_ip_address": "",
            "notes": self.notes,
            "tax_exempt_category": "",
            "customer_group_id": self.customer_group_id,
            "date_created": iso(self.date_created),
            "date_modified": iso(self.date_modified),
            "address_count": self.addresses.len(),
            "attribute_count": attributes.as_ref().map_or(0, Vec::len),
            "authentication": {"force_password_reset": false},
            "accepts_product_review_abandoned_cart_emails": self.accepts_product_review_abandoned_cart_emails,
            "store_credit_amounts": [{"amount": 0}],
            "origin_channel_id": self.origin_channel_id,
            "channel_ids": null,
        });
        if with_addresses {
            v["addresses"] = self.addresses.iter().map(CustomerAddress::to_v3).collect();
        }
        if let Some(values) = attributes {
            v["attributes"] = values.iter().map(|a| a.to_v3()).collect();
        }
        v
    }
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub id: u64,
    pub name: String,
    /// `string`, `number` or `date`.
    pub kind: String,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

impl Attribute {
    pub(crate) fn to_v3(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "date_created": iso(self.date_created),
            "date_modified": iso(self.date_modified),
        })
    }
}

#[derive(Debug, Clone)]
pub struct AttributeValue {
    pub id: u64,
    pub attribute_id: u64,
    pub customer_id: u64,
    pub value: String,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

impl AttributeValue {
    /// Reads say `attribute_value` where writes said `value`.
    pub(crate) fn to_v3(&self) -> Value {
        json!({
            "id": self.id,
            "attribute_id": self.attribute_id,
            "attribute_value": self.value,
            "customer_id": self.customer_id,
            "date_created": iso(self.date_created),
            "date_modified": iso(self.date_modified),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Metafield {
    pub id: u64,
    pub customer_id: u64,
    pub namespace: String,
    pub key: String,
    pub value: String,
    pub permission_set: String,
    pub description: String,
    /// The API account that owns it; other accounts never see an `app_only` field.
    pub client_id: String,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

impl Metafield {
    pub(crate) fn to_v3(&self) -> Value {
        json!({
            "id": self.id,
            "namespace": self.namespace,
            "key": self.key,
            "value": self.value,
            "permission_set": self.permission_set,
            "description": self.description,
            "resource_type": "customer",
            "resource_id": self.customer_id,
            "date_created": iso(self.date_created),
            "date_modified": iso(self.date_modified),
            "owner_client_id": self.client_id,
        })
    }
}

#[derive(Debug, Clone)]
pub struct SubscriberSeed {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `storefront`, `order` or `custom`.
    pub source: String,
    pub order_id: Option<u64>,
    pub channel_id: u64,
    /// `marketing_newsletter` and/or `abandoned_cart`; empty means unsubscribed.
    pub consents: Vec<String>,
}

impl Default for SubscriberSeed {
    fn default() -> Self {
        Self {
            email: "subscriber@example.com".into(),
            first_name: String::new(),
            last_name: String::new(),
            source: "storefront".into(),
            order_id: None,
            channel_id: 1,
            consents: vec!["marketing_newsletter".into()],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Subscriber {
    pub id: u64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub source: String,
    pub order_id: Option<u64>,
    pub channel_id: u64,
    pub consents: Vec<String>,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
}

impl Subscriber {
    pub(crate) fn to_v3(&self) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "source": self.source,
            "order_id": self.order_id,
            "channel_id": self.channel_id,
            "consents": self.consents,
            "date_created": iso(self.date_created),
            "date_modified": iso(self.date_modified),
        })
    }
}

/// A line item a shopper puts in a cart. Products are remembered by id so an API-created cart can name
/// only `product_id` and `quantity`, as the real API allows.
#[derive(Debug, Clone)]
pub struct ItemSeed {
    /// Assigned by the simulator when `None`.
    pub product_id: Option<u64>,
    pub variant_id: Option<u64>,
    pub name: String,
    pub quantity: u32,
    /// Unit price in the cart's currency, e.g. `19.99`.
    pub price: f64,
    pub image_url: String,
}

impl ItemSeed {
    pub fn new(name: &str, quantity: u32, price: f64) -> Self {
        Self {
            product_id: None,
            variant_id: None,
            name: name.into(),
            quantity,
            price,
            image_url: format!(
                "https://cdn.example.com/products/{}.jpg",
                name.to_lowercase().replace(' ', "-")
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CartSeed {
    /// 0 for a guest.
    pub customer_id: u64,
    /// Empty until a guest types it at checkout (or the customer's email).
    pub email: String,
    pub channel_id: u64,
    pub currency: String,
    pub items: Vec<ItemSeed>,
}

impl Default for CartSeed {
    fn default() -> Self {
        Self {
            customer_id: 0,
            email: String::new(),
            channel_id: 1,
            currency: "USD".into(),
            items: vec![ItemSeed::new("Blue Mug", 1, 12.5)],
        }
    }
}

#[derive(Debug, Clone)]
pub struct CartItem {
    pub id: String,
    pub product_id: u64,
    pub variant_id: u64,
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub price_cents: i64,
    pub image_url: String,
}

impl CartItem {
    fn to_v3(&self) -> Value {
        let price = money_v3(self.price_cents);
        let extended = money_v3(self.price_cents * i64::from(self.quantity));
        json!({
            "id": self.id,
            "parent_id": null,
            "variant_id": self.variant_id,
            "product_id": self.product_id,
            "sku": self.sku,
            "name": self.name,
            "url": format!("https://sim-store.example.com/products/{}", self.product_id),
            "quantity": self.quantity,
            "taxable": true,
            "image_url": self.image_url,
            "discounts": [],
            "coupons": [],
            "discount_amount": 0,
            "coupon_amount": 0,
            "original_price": price,
            "list_price": price,
            "sale_price": price,
            "extended_list_price": extended,
            "extended_sale_price": extended,
            "is_require_shipping": true,
            "is_mutable": true,
            "added_by_promotion": false,
        })
    }
}

/// The checkout's billing address: where a shopper's phone number first appears.
#[derive(Debug, Clone, Default)]
pub struct BillingAddress {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub company: String,
    pub address1: String,
    pub address2: String,
    pub city: String,
    pub state_or_province: String,
    pub state_or_province_code: String,
    pub country: String,
    pub country_code: String,
    pub postal_code: String,
    pub phone: String,
}

impl BillingAddress {
    fn to_v3(&self, id: &str) -> Value {
        json!({
            "id": id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "company": self.company,
            "address1": self.address1,
            "address2": self.address2,
            "city": self.city,
            "state_or_province": self.state_or_province,
            "state_or_province_code": self.state_or_province_code,
            "country": self.country,
            "country_code": self.country_code,
            "postal_code": self.postal_code,
            "phone": self.phone,
            "custom_fields": [],
        })
    }

    fn to_v2(&self) -> Value {
        json!({
            "first_name": self.first_name,
            "last_name": self.last_name,
            "company": self.company,
            "street_1": self.address1,
            "street_2": self.address2,
            "city": self.city,
            "state": self.state_or_province,
            "zip": self.postal_code,
            "country": self.country,
            "country_iso2": self.country_code,
            "phone": self.phone,
            "email": self.email,
            "form_fields": [],
        })
    }
}

#[derive(Debug, Clone)]
pub struct Cart {
    pub id: String,
    pub customer_id: u64,
    pub channel_id: u64,
    pub email: String,
    pub currency: String,
    pub locale: String,
    pub line_items: Vec<CartItem>,
    /// Redirect URLs exist only for carts created through the management API.
    pub created_by_api: bool,
    pub version: u64,
    pub billing_address: Option<BillingAddress>,
    /// Set when `store/cart/abandoned` fired; looked up by `GET /v3/abandoned-carts/{token}`.
    pub abandoned_token: Option<String>,
    pub created_time: DateTime<Utc>,
    pub updated_time: DateTime<Utc>,
}

impl Cart {
    pub fn amount_cents(&self) -> i64 {
        self.line_items
            .iter()
            .map(|i| i.price_cents * i64::from(i.quantity))
            .sum()
    }

    pub(crate) fn to_v3(&self) -> Value {
        let amount = money_v3(self.amount_cents());
        json!({
            "id": self.id,
            "customer_id": self.customer_id,
            "channel_id": self.channel_id,
            "email": self.email,
            "currency": {"code": self.currency},
            "tax_included": false,
            "base_amount": amount,
            "discount_amount": 0,
            "manual_discount_amount": 0,
            "cart_amount": amount,
            "coupons": [],
            "discounts": [],
            "line_items": {
                "physical_items": self.line_items.iter().map(CartItem::to_v3).collect::<Vec<_>>(),
                "digital_items": [],
                "gift_certificates": [],
                "custom_items": [],
            },
            "created_time": iso(self.created_time),
            "updated_time": iso(self.updated_time),
            "locale": self.locale,
            "version": self.version,
        })
    }

    pub(crate) fn checkout_v3(&self) -> Value {
        let amount = money_v3(self.amount_cents());
        let mut cart = self.to_v3();
        cart["cart_amount_inc_tax"] = amount.clone();
        cart["cart_amount_ex_tax"] = amount.clone();
        let mut v = json!({
            "id": self.id,
            "cart": cart,
            "consignments": [],
            "taxes": [],
            "coupons": [],
            "fees": [],
            "order_id": null,
            "shipping_cost_total_inc_tax": 0,
            "shipping_cost_total_ex_tax": 0,
            "handling_cost_total_inc_tax": 0,
            "handling_cost_total_ex_tax": 0,
            "tax_total": 0,
            "subtotal_inc_tax": amount,
            "subtotal_ex_tax": amount,
            "grand_total": amount,
            "created_time": iso(self.created_time),
            "updated_time": iso(self.updated_time),
            "customer_message": "",
            "version": self.version,
        });
        if let Some(address) = &self.billing_address {
            v["billing_address"] = address.to_v3(&format!("{:x}", self.created_time.timestamp()));
        }
        v
    }
}

pub(crate) fn order_status_name(status_id: u32) -> &'static str {
    match status_id {
        0 => "Incomplete",
        1 => "Pending",
        2 => "Shipped",
        3 => "Partially Shipped",
        4 => "Refunded",
        5 => "Cancelled",
        6 => "Declined",
        7 => "Awaiting Payment",
        8 => "Awaiting Pickup",
        9 => "Awaiting Shipment",
        10 => "Completed",
        11 => "Awaiting Fulfillment",
        12 => "Manual Verification Required",
        13 => "Disputed",
        14 => "Partially Refunded",
        _ => "Unknown",
    }
}

#[derive(Debug, Clone)]
pub struct Order {
    pub id: u64,
    /// 0 for a guest.
    pub customer_id: u64,
    pub cart_id: Option<String>,
    pub status_id: u32,
    pub channel_id: u64,
    pub currency_code: String,
    pub total_cents: i64,
    pub items_total: u32,
    pub billing_address: BillingAddress,
    pub is_email_opt_in: bool,
    pub products: Vec<CartItem>,
    pub date_created: DateTime<Utc>,
    pub date_modified: DateTime<Utc>,
    /// Coupon codes redeemed at checkout (`GET /v2/orders/{id}/coupons`): `(code id, promotion id, code)`.
    pub coupons: Vec<(u64, u64, String)>,
}

impl Order {
    /// `GET /v2/orders/{id}/coupons`: the order's coupons (`orderCoupons_Base`).
    pub(crate) fn coupons_v2(&self) -> Vec<Value> {
        self.coupons
            .iter()
            .map(|(id, promotion_id, code)| {
                json!({
                    "id": id,
                    "coupon_id": promotion_id,
                    "order_id": self.id,
                    "code": code,
                    "amount": "0.0000",
                    "type": 5,
                    "discount": 0,
                })
            })
            .collect()
    }

    pub(crate) fn to_v2(&self, api_base: &str, hash: &str) -> Value {
        let total = money_v2(self.total_cents);
        let zero = money_v2(0);
        let link = |what: &str| {
            json!({
                "url": format!("{api_base}/stores/{hash}/v2/orders/{}/{what}", self.id),
                "resource": format!("/orders/{}/{what}", self.id),
            })
        };
        json!({
            "id": self.id,
            "customer_id": self.customer_id,
            "date_created": rfc2822(self.date_created),
            "date_modified": rfc2822(self.date_modified),
            "date_shipped": "",
            "status_id": self.status_id,
            "status": order_status_name(self.status_id),
            "custom_status": order_status_name(self.status_id),
            "subtotal_ex_tax": total,
            "subtotal_inc_tax": total,
            "subtotal_tax": zero,
            "base_shipping_cost": zero,
            "total_ex_tax": total,
            "total_inc_tax": total,
            "total_tax": zero,
            "items_total": self.items_total,
            "items_shipped": 0,
            "payment_method": "Test Payment Gateway",
            "payment_status": if self.status_id == 0 { "" } else { "captured" },
            "refunded_amount": zero,
            "discount_amount": zero,
            "coupon_discount": zero,
            "currency_code": self.currency_code,
            "default_currency_code": self.currency_code,
            "currency_exchange_rate": "1.0000000000",
            "cart_id": self.cart_id,
            "billing_address": self.billing_address.to_v2(),
            "is_email_opt_in": self.is_email_opt_in,
            "order_source": "www",
            "channel_id": self.channel_id,
            "external_source": null,
            "customer_locale": "en",
            "products": link("products"),
            "shipping_addresses": link("shippingaddresses"),
            "coupons": link("coupons"),
        })
    }
}

fn default_true() -> bool {
    true
}

/// A promotion (`/v3/promotions`) and its coupon codes.
#[derive(Debug, Clone)]
pub struct Promotion {
    pub id: u64,
    pub name: String,
    /// `COUPON` (redeemed with a code) or `AUTOMATIC`.
    pub redemption_type: &'static str,
    pub status: &'static str,
    pub codes: Vec<PromotionCode>,
}

#[derive(Debug, Clone)]
pub struct PromotionCode {
    pub id: u64,
    pub code: String,
    pub max_uses: u32,
    pub max_uses_per_customer: u32,
    pub current_uses: u32,
    pub created: DateTime<Utc>,
}

impl Promotion {
    pub(crate) fn to_v3(&self) -> Value {
        json!({
            "id": self.id,
            "redemption_type": self.redemption_type,
            "name": self.name,
            "display_name": self.name,
            "created_from": "api",
            "channels": [],
            "customer": {"group_ids": [], "minimum_order_count": 0, "excluded_group_ids": []},
            "rules": [{"action": {"cart_value": {"discount": {"percentage_amount": "10"}}}, "apply_once": true}],
            "notifications": [],
            "stop": false,
            "currency_code": "*",
            "current_uses": self.codes.iter().map(|c| c.current_uses).sum::<u32>(),
            "start_date": "2025-01-01T00:00:00+00:00",
            "status": self.status,
            "can_be_used_with_other_promotions": true,
            "coupon_overrides_automatic_when_offering_higher_discounts": false,
            "coupon_type": "SINGLE",
        })
    }
}

impl PromotionCode {
    pub(crate) fn to_v3(&self) -> Value {
        json!({
            "id": self.id,
            "code": self.code,
            "max_uses": self.max_uses,
            "max_uses_per_customer": self.max_uses_per_customer,
            "current_uses": self.current_uses,
            "created": self.created.to_rfc3339_opts(SecondsFormat::Secs, false),
        })
    }
}

/// A webhook subscription as `/v3/hooks` shows it.
#[derive(Debug, Clone)]
pub struct Hook {
    pub id: u64,
    pub client_id: String,
    pub store_hash: String,
    pub scope: String,
    pub destination: String,
    pub is_active: bool,
    pub headers: Option<BTreeMap<String, String>>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Hook {
    pub(crate) fn to_v3(&self) -> Value {
        json!({
            "id": self.id,
            "client_id": self.client_id,
            "store_hash": self.store_hash,
            "scope": self.scope,
            "destination": self.destination,
            "is_active": self.is_active,
            "headers": self.headers,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// `store/cart/*` covers `store/cart/created` and `store/cart/lineItem/updated`.
    pub fn matches(&self, scope: &str) -> bool {
        match self.scope.strip_suffix('*') {
            Some(prefix) => scope.starts_with(prefix),
            None => self.scope == scope,
        }
    }
}

/// The writable part of a hook, as posted.
#[derive(Debug, Deserialize)]
pub(crate) struct HookBody {
    pub scope: Option<String>,
    pub destination: Option<String>,
    #[serde(default = "default_true")]
    pub is_active: bool,
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptKind {
    Src,
    ScriptTag,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMethod {
    Default,
    Async,
    Defer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptLocation {
    Head,
    Footer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Storefront,
    AllPages,
    Checkout,
    OrderConfirmation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentCategory {
    Essential,
    Functional,
    Analytics,
    Targeting,
    Unknown,
}

/// A script as `/v3/content/scripts` stores it. Unknown enum values are rejected with 422, as the API does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Script {
    #[serde(default)]
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub html: String,
    #[serde(default)]
    pub src: String,
    #[serde(default)]
    pub auto_uninstall: bool,
    #[serde(default = "default_load_method")]
    pub load_method: LoadMethod,
    #[serde(default = "default_location")]
    pub location: ScriptLocation,
    #[serde(default = "default_visibility")]
    pub visibility: Visibility,
    #[serde(default = "default_kind")]
    pub kind: ScriptKind,
    #[serde(default)]
    pub api_client_id: String,
    #[serde(default = "default_consent")]
    pub consent_category: ConsentCategory,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_channel")]
    pub channel_id: u64,
    #[serde(default)]
    pub integrity_hashes: Vec<String>,
    #[serde(default)]
    pub date_created: String,
    #[serde(default)]
    pub date_modified: String,
}

fn default_load_method() -> LoadMethod {
    LoadMethod::Default
}
fn default_location() -> ScriptLocation {
    ScriptLocation::Footer
}
fn default_visibility() -> Visibility {
    Visibility::Storefront
}
fn default_kind() -> ScriptKind {
    ScriptKind::Src
}
fn default_consent() -> ConsentCategory {
    ConsentCategory::Unknown
}
fn default_channel() -> u64 {
    1
}

/// `/v3/abandoned-carts/settings`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbandonedCartSettings {
    pub enable_notification: bool,
    pub email_customer_until_cart_is_recovered: bool,
    /// The "Require Consent" toggle.
    pub marketing_emails_require_customer_consent: bool,
    pub email_merchant_when_cart_is_converted: bool,
    pub email_merchant_when_cart_is_abandoned: bool,
    pub merchant_email_address: String,
    pub merchant_abandoned_cart_email_frequency_type: String,
    pub merchant_abandoned_cart_digest_email_frequency: u32,
}

impl Default for AbandonedCartSettings {
    fn default() -> Self {
        Self {
            enable_notification: true,
            email_customer_until_cart_is_recovered: false,
            marketing_emails_require_customer_consent: false,
            email_merchant_when_cart_is_converted: false,
            email_merchant_when_cart_is_abandoned: false,
            merchant_email_address: "owner@sim-store.example.com".into(),
            merchant_abandoned_cart_email_frequency_type: "individual".into(),
            merchant_abandoned_cart_digest_email_frequency: 24,
        }
    }
}

/// One visit to a cart redirect URL.
#[derive(Debug, Clone)]
pub struct RedirectVisit {
    pub cart_id: String,
    pub action: String,
    /// False when the URL had already been used (the shopper saw the "expired" page).
    pub accepted: bool,
    pub query: String,
}
