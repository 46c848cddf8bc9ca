//! The shapes we read and write, limited to the fields the product uses. Unknown fields are ignored; fields
//! BigCommerce may omit or send as `null` are `Option` or default to empty.

use crate::{Secret, StoreHash};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// `null` and absent both become the type's default (BigCommerce sends `null` for many empty strings).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `""` and `null` become `None`.
fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()))
}

/// v2 dates are RFC-2822 (`Tue, 05 Mar 2019 21:40:11 +0000`).
fn rfc2822<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let raw = String::deserialize(d)?;
    DateTime::parse_from_rfc2822(&raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| serde::de::Error::custom(format!("{raw:?} is not an RFC-2822 date: {e}")))
}

/// An RFC-2822 date that may be `""` (e.g. `date_shipped` of an unshipped order).
fn rfc2822_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(raw) => DateTime::parse_from_rfc2822(&raw)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("{raw:?} is not an RFC-2822 date: {e}"))),
    }
}

/// v3 takes money as JSON numbers, while `Decimal` serializes as a string by default.
fn decimal_as_number<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    use rust_decimal::prelude::ToPrimitive;
    match value.and_then(|v| v.to_f64()) {
        Some(v) => s.serialize_f64(v),
        None => s.serialize_none(),
    }
}

// ---- OAuth ----

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BigCommerceUser {
    pub id: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
}

/// The result of exchanging an install's grant code.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub access_token: Secret,
    pub store_hash: StoreHash,
    /// The scopes the merchant granted.
    pub scopes: Vec<String>,
    pub user: BigCommerceUser,
    pub owner: BigCommerceUser,
    pub account_uuid: Option<String>,
}

impl TokenGrant {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

#[derive(Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: Secret,
    #[serde(default, deserialize_with = "nullable")]
    pub scope: String,
    pub user: BigCommerceUser,
    pub owner: Option<BigCommerceUser>,
    pub context: String,
    pub account_uuid: Option<String>,
}

// ---- envelopes ----

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Pagination {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub per_page: u64,
    #[serde(default)]
    pub current_page: u64,
    #[serde(default)]
    pub total_pages: u64,
}

/// `meta.cursor_pagination`: on a first page and on every answer to `after`/`before`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CursorPagination {
    #[serde(default)]
    pub count: u64,
    #[serde(default)]
    pub per_page: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub start_cursor: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub end_cursor: Option<String>,
}

/// One page of a v3 collection.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Absent on cursor-only answers.
    pub pagination: Option<Pagination>,
    /// Absent when `page` > 1 was asked for.
    pub cursor: Option<CursorPagination>,
}

impl<T> Page<T> {
    /// Whether a later page exists (judged by the item count when the answer had no pagination block).
    pub fn has_more(&self, limit: u32) -> bool {
        match self.pagination {
            Some(p) => p.current_page < p.total_pages,
            None => self.items.len() >= limit as usize,
        }
    }

    /// The cursor to pass as `after` for the next page, if there may be one: a page short of `limit` is the
    /// last, and a full one is followed (a full last page costs one empty answer).
    pub fn next_cursor(&self, limit: u32) -> Option<&str> {
        next_cursor(self.cursor.as_ref(), self.items.len(), limit)
    }
}

fn next_cursor(cursor: Option<&CursorPagination>, answered: usize, limit: u32) -> Option<&str> {
    if answered < limit as usize {
        return None;
    }
    cursor.and_then(|c| c.end_cursor.as_deref()).filter(|c| !c.is_empty())
}

#[derive(Deserialize)]
pub(crate) struct Envelope<T> {
    pub data: T,
}

#[derive(Deserialize, Default)]
pub(crate) struct CollectionMeta {
    pub pagination: Option<Pagination>,
    pub cursor_pagination: Option<CursorPagination>,
}

#[derive(Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(crate) struct CollectionEnvelope<T> {
    #[serde(default = "Vec::new", deserialize_with = "nullable")]
    pub data: Vec<T>,
    #[serde(default, deserialize_with = "nullable")]
    pub meta: CollectionMeta,
}

/// The metafield spec answers writes with a one-item collection; some endpoints answer with the object.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

// ---- hooks ----

/// A webhook subscription. `headers` carry our per-store secret, so their values are [`Secret`]s.
#[derive(Debug, Clone, Deserialize)]
pub struct Hook {
    pub id: u64,
    pub scope: String,
    pub destination: String,
    pub is_active: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub headers: BTreeMap<String, Secret>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewHook {
    pub scope: String,
    pub destination: String,
    pub is_active: bool,
    pub headers: BTreeMap<String, Secret>,
}

/// A partial update: only the fields that are `Some` change (e.g. `is_active: Some(true)` re-enables).
#[derive(Debug, Clone, Default, Serialize)]
pub struct HookUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_active: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, Secret>>,
}

// ---- scripts ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptKind {
    Src,
    ScriptTag,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMethod {
    Default,
    Async,
    Defer,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptLocation {
    Head,
    Footer,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptVisibility {
    Storefront,
    AllPages,
    Checkout,
    OrderConfirmation,
    #[serde(other)]
    Other,
}

/// Scripts left `Unknown` do not render while the cookie-consent banner is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentCategory {
    Essential,
    Functional,
    Analytics,
    Targeting,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Script {
    pub uuid: String,
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    #[serde(default, deserialize_with = "non_empty")]
    pub src: Option<String>,
    pub kind: Option<ScriptKind>,
    pub load_method: Option<LoadMethod>,
    pub location: Option<ScriptLocation>,
    pub visibility: Option<ScriptVisibility>,
    #[serde(default)]
    pub auto_uninstall: bool,
    pub consent_category: Option<ConsentCategory>,
    #[serde(default)]
    pub enabled: bool,
    pub channel_id: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    pub integrity_hashes: Vec<String>,
    pub date_modified: Option<DateTime<Utc>>,
}

/// A script to create, or the full new state of one to update.
#[derive(Debug, Clone, Serialize)]
pub struct NewScript {
    pub name: String,
    pub description: String,
    pub src: String,
    pub kind: ScriptKind,
    pub load_method: LoadMethod,
    pub location: ScriptLocation,
    pub visibility: ScriptVisibility,
    pub auto_uninstall: bool,
    pub consent_category: ConsentCategory,
    pub enabled: bool,
    pub channel_id: u64,
    pub integrity_hashes: Vec<String>,
}

// ---- customers ----

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CustomerAddress {
    pub id: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub company: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address1: String,
    #[serde(default, deserialize_with = "nullable")]
    pub address2: String,
    #[serde(default, deserialize_with = "nullable")]
    pub city: String,
    #[serde(default, deserialize_with = "nullable")]
    pub state_or_province: String,
    #[serde(default, deserialize_with = "nullable")]
    pub postal_code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub country: String,
    /// ISO 3166-1 alpha-2.
    #[serde(default, deserialize_with = "nullable")]
    pub country_code: String,
    /// Free-form, as typed.
    #[serde(default, deserialize_with = "nullable")]
    pub phone: String,
}

/// A customer attribute value as read (BigCommerce names it `attribute_value` on the way out).
#[derive(Debug, Clone, Deserialize)]
pub struct CustomerAttributeValue {
    pub id: Option<u64>,
    pub attribute_id: u64,
    #[serde(rename = "attribute_value", default, deserialize_with = "nullable")]
    pub value: String,
    pub customer_id: u64,
    pub date_modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    pub id: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub company: String,
    /// Free-form, not E.164: normalise with the address country.
    #[serde(default, deserialize_with = "nullable")]
    pub phone: String,
    #[serde(default, deserialize_with = "nullable")]
    pub notes: String,
    /// 0 when the customer is in no group.
    #[serde(default, deserialize_with = "nullable")]
    pub customer_group_id: u64,
    /// Signed up for product-review or abandoned-cart emails (or both).
    #[serde(default, deserialize_with = "nullable")]
    pub accepts_product_review_abandoned_cart_emails: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub addresses: Vec<CustomerAddress>,
    #[serde(default, deserialize_with = "nullable")]
    pub attributes: Vec<CustomerAttributeValue>,
    pub origin_channel_id: Option<u64>,
    pub date_created: Option<DateTime<Utc>>,
    pub date_modified: Option<DateTime<Utc>>,
}

/// Which customers to list; pages always include addresses and attributes.
#[derive(Debug, Clone)]
pub struct CustomerQuery {
    /// Ignored (not sent) when `after` is given.
    pub page: u32,
    /// At most 250.
    pub limit: u32,
    /// Cursor paging: the `end_cursor` of the page before.
    pub after: Option<String>,
    pub sort: Option<CustomerSort>,
    pub ids: Vec<u64>,
    pub group_ids: Vec<u64>,
    pub emails: Vec<String>,
    pub modified_since: Option<DateTime<Utc>>,
}

impl Default for CustomerQuery {
    fn default() -> Self {
        Self {
            page: 1,
            limit: 250,
            after: None,
            sort: None,
            ids: Vec::new(),
            group_ids: Vec::new(),
            emails: Vec::new(),
            modified_since: None,
        }
    }
}

impl CustomerQuery {
    pub fn page(page: u32, limit: u32) -> Self {
        Self {
            page,
            limit,
            ..Self::default()
        }
    }
}

/// The orders `GET /v3/customers` offers (`sort=`); each is completed by id, so paging by cursor is stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerSort {
    DateCreatedAsc,
    DateModifiedAsc,
}

impl CustomerSort {
    pub fn as_param(self) -> &'static str {
        match self {
            Self::DateCreatedAsc => "date_created:asc",
            Self::DateModifiedAsc => "date_modified:asc",
        }
    }
}

/// A page of customers read one by one: a customer whose record does not decode is set aside, not the page.
#[derive(Debug, Clone)]
pub struct CustomerPage {
    pub page: Page<Customer>,
    /// The ids of customers that did not have the documented shape (0 when even the id was unreadable).
    pub malformed: Vec<u64>,
}

impl CustomerPage {
    /// As [`Page::next_cursor`], counting the malformed customers among those answered.
    pub fn next_cursor(&self, limit: u32) -> Option<&str> {
        next_cursor(
            self.page.cursor.as_ref(),
            self.page.items.len() + self.malformed.len(),
            limit,
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributeType {
    String,
    Number,
    Date,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomerAttribute {
    pub id: u64,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: AttributeType,
}

/// One value to set; at most 10 per call.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeValueUpsert {
    pub attribute_id: u64,
    pub customer_id: u64,
    /// Always a string, at most 255 characters, whatever the attribute's type.
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermissionSet {
    /// Private to the app that owns the field.
    AppOnly,
    Read,
    Write,
    ReadAndSfAccess,
    WriteAndSfAccess,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Metafield {
    pub id: u64,
    pub namespace: String,
    pub key: String,
    pub value: String,
    pub permission_set: PermissionSet,
    #[serde(default, deserialize_with = "nullable")]
    pub description: String,
    pub resource_id: Option<u64>,
    pub date_modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewMetafield {
    pub namespace: String,
    pub key: String,
    pub value: String,
    pub permission_set: PermissionSet,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// v2 customer group.
#[derive(Debug, Clone, Deserialize)]
pub struct CustomerGroup {
    pub id: u64,
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub is_default: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub is_group_for_guests: bool,
}

// ---- subscribers ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriberConsent {
    MarketingNewsletter,
    AbandonedCart,
    #[serde(other)]
    Other,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Subscriber {
    pub id: u64,
    pub email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: String,
    /// `storefront`, `order` or `custom`.
    #[serde(default, deserialize_with = "nullable")]
    pub source: String,
    pub order_id: Option<u64>,
    pub channel_id: Option<u64>,
    /// Empty means unsubscribed (or never ticked the box).
    #[serde(default, deserialize_with = "nullable")]
    pub consents: Vec<SubscriberConsent>,
    pub date_created: Option<DateTime<Utc>>,
    pub date_modified: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct SubscriberQuery {
    pub page: u32,
    pub limit: u32,
    pub email: Option<String>,
    pub ids: Vec<u64>,
    pub modified_since: Option<DateTime<Utc>>,
}

impl Default for SubscriberQuery {
    fn default() -> Self {
        Self {
            page: 1,
            limit: 250,
            email: None,
            ids: Vec::new(),
            modified_since: None,
        }
    }
}

// ---- carts and checkouts ----

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Currency {
    pub code: String,
}

/// A physical, digital or custom line item.
#[derive(Debug, Clone, Deserialize)]
pub struct CartItem {
    #[serde(default, deserialize_with = "nullable")]
    pub id: String,
    /// 0 for custom items.
    #[serde(default, deserialize_with = "nullable")]
    pub product_id: u64,
    pub variant_id: Option<u64>,
    #[serde(default, deserialize_with = "nullable")]
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub list_price: Decimal,
    pub sale_price: Option<Decimal>,
    #[serde(default, deserialize_with = "non_empty")]
    pub image_url: Option<String>,
}

impl CartItem {
    /// What the shopper pays per unit.
    pub fn unit_price(&self) -> Decimal {
        self.sale_price.unwrap_or(self.list_price)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct LineItems {
    #[serde(default, deserialize_with = "nullable")]
    pub physical_items: Vec<CartItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub digital_items: Vec<CartItem>,
    #[serde(default, deserialize_with = "nullable")]
    pub custom_items: Vec<CartItem>,
}

impl LineItems {
    pub fn all(&self) -> impl Iterator<Item = &CartItem> {
        self.physical_items
            .iter()
            .chain(&self.digital_items)
            .chain(&self.custom_items)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedirectUrls {
    pub cart_url: String,
    pub checkout_url: String,
    pub embedded_checkout_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Cart {
    pub id: String,
    /// 0 for a guest.
    #[serde(default, deserialize_with = "nullable")]
    pub customer_id: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub channel_id: u64,
    /// Set once a guest types it at checkout.
    #[serde(default, deserialize_with = "non_empty")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub currency: Currency,
    pub cart_amount: Decimal,
    #[serde(default, deserialize_with = "nullable")]
    pub line_items: LineItems,
    pub created_time: Option<DateTime<Utc>>,
    pub updated_time: Option<DateTime<Utc>>,
    /// Present when asked for with `include=redirect_urls` on an API-created cart.
    pub redirect_urls: Option<RedirectUrls>,
}

/// A line item for a new (re-created) cart.
#[derive(Debug, Clone, Serialize)]
pub struct NewLineItem {
    pub product_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<u64>,
    pub quantity: u32,
    /// Overrides the catalogue price when set.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "decimal_as_number")]
    pub list_price: Option<Decimal>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct NewCurrency {
    pub code: String,
}

#[derive(Debug, Clone)]
pub struct NewCart {
    /// 0 for a guest.
    pub customer_id: u64,
    pub channel_id: u64,
    pub line_items: Vec<NewLineItem>,
    pub currency: Option<String>,
    pub locale: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct NewCartBody<'a> {
    pub customer_id: u64,
    pub channel_id: u64,
    pub line_items: &'a [NewLineItem],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<NewCurrency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<&'a str>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckoutAddress {
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: String,
    #[serde(default, deserialize_with = "non_empty")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub city: String,
    #[serde(default, deserialize_with = "nullable")]
    pub state_or_province_code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2; empty until the shopper picks a country.
    #[serde(default, deserialize_with = "nullable")]
    pub country_code: String,
    /// As typed (the schema's E.164 pattern is not enforced on real data).
    #[serde(default, deserialize_with = "non_empty")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutCart {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub customer_id: u64,
    #[serde(default, deserialize_with = "nullable")]
    pub channel_id: u64,
    #[serde(default, deserialize_with = "non_empty")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub currency: Currency,
    #[serde(default, deserialize_with = "nullable")]
    pub line_items: LineItems,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Checkout {
    pub id: String,
    pub cart: CheckoutCart,
    /// Absent until the shopper reaches the billing step.
    pub billing_address: Option<CheckoutAddress>,
    pub grand_total: Option<Decimal>,
    pub updated_time: Option<DateTime<Utc>>,
}

impl Checkout {
    pub fn billing_phone(&self) -> Option<&str> {
        self.billing_address.as_ref()?.phone.as_deref()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AbandonedCartSettings {
    /// The "Require Consent" toggle for marketing and abandoned-cart emails.
    pub marketing_emails_require_customer_consent: bool,
    pub enable_notification: Option<bool>,
}

#[derive(Deserialize)]
pub(crate) struct AbandonedCart {
    pub cart_id: String,
}

// ---- orders (v2) ----

#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderAddress {
    #[serde(default, deserialize_with = "nullable")]
    pub first_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub last_name: String,
    #[serde(default, deserialize_with = "non_empty")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "non_empty")]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub city: String,
    #[serde(default, deserialize_with = "nullable")]
    pub state: String,
    #[serde(default, deserialize_with = "nullable")]
    pub zip: String,
    #[serde(default, deserialize_with = "nullable")]
    pub country_iso2: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    pub id: u64,
    /// 0 for a guest.
    #[serde(default, deserialize_with = "nullable")]
    pub customer_id: u64,
    #[serde(default, deserialize_with = "non_empty")]
    pub cart_id: Option<String>,
    /// 0 is "Incomplete" (payment not completed): not a conversion.
    pub status_id: u32,
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
    #[serde(deserialize_with = "rfc2822")]
    pub date_created: DateTime<Utc>,
    #[serde(default, deserialize_with = "rfc2822_opt")]
    pub date_modified: Option<DateTime<Utc>>,
    pub total_inc_tax: Decimal,
    pub total_ex_tax: Decimal,
    #[serde(default, deserialize_with = "nullable")]
    pub currency_code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub billing_address: OrderAddress,
    /// Whether the shopper ticked the checkout's email opt-in.
    #[serde(default, deserialize_with = "nullable")]
    pub is_email_opt_in: bool,
    pub channel_id: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct OrderQuery {
    pub cart_id: Option<String>,
    pub customer_id: Option<u64>,
    pub email: Option<String>,
    pub status_id: Option<u32>,
    pub page: u32,
    pub limit: u32,
}

impl Default for OrderQuery {
    fn default() -> Self {
        Self {
            cart_id: None,
            customer_id: None,
            email: None,
            status_id: None,
            page: 1,
            limit: 50,
        }
    }
}

// ---- promotions ----

/// A promotion (`GET /v3/promotions`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Promotion {
    pub id: u64,
    /// The merchant's internal name for it.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// `COUPON` or `AUTOMATIC`.
    #[serde(default, deserialize_with = "nullable")]
    pub redemption_type: String,
    /// `ENABLED`, `DISABLED` or `INVALID`.
    #[serde(default, deserialize_with = "nullable")]
    pub status: String,
}

/// A coupon code of a promotion (`POST /v3/promotions/{id}/codes`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CouponCode {
    pub id: u64,
    pub code: String,
}

/// A coupon an order redeemed (`GET /v2/orders/{id}/coupons`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderCoupon {
    #[serde(default, deserialize_with = "non_empty")]
    pub code: Option<String>,
}

// ---- store ----

#[derive(Debug, Clone, Default, Deserialize)]
pub struct StoreTimezone {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// `GET /v2/store`.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreInformation {
    /// The store hash.
    pub id: String,
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub domain: String,
    #[serde(default, deserialize_with = "nullable")]
    pub secure_url: String,
    #[serde(default, deserialize_with = "nullable")]
    pub country_code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub timezone: StoreTimezone,
    #[serde(default, deserialize_with = "nullable")]
    pub currency: String,
    #[serde(default, deserialize_with = "nullable")]
    pub admin_email: String,
    #[serde(default, deserialize_with = "nullable")]
    pub plan_name: String,
    /// The numeric id that webhooks carry as `store_id`.
    pub store_id: Option<u64>,
}
