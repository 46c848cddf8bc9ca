//! Abandoned-cart recovery, the pure parts: the reminder text rendered from the store's template, which senders
//! can take a STOP reply, the links a reminder carries, the schedule arithmetic the sweep and the sender share,
//! and last-touch attribution of orders to reminders. No I/O; the `sweep`, `send`, `shopper` and `sync`
//! functions do that.

use crate::StoreHash;
use crate::consent::content::{OPT_OUT_INSTRUCTION, ends_with_opt_out_instruction};
use crate::consent::{
    ContentProblem, Market, StepTiming, count_segments, must_omit_product_name, reminder_schedule,
    review_marketing_message, screen_shaft,
};
use crate::model::{LineItem, SendRecord, SendStatus, Settings};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How far the sweep moves a due cart's due time when it enqueues its send job. If the job is lost (a sweep
/// that dies after taking the cart, a job that fails every retry), the cart is due again after the lease and
/// the next sweep enqueues it again: nothing is lost, and the send claim keeps it to one SMS.
pub const SWEEP_LEASE: Duration = Duration::minutes(15);

/// How long a recovery link works (BigCommerce keeps a cart 30 days after its last change).
pub const RECOVERY_LINK_DAYS: i64 = 30;

/// How long a web opt-out link works. Longer than a recovery link: an opt-out must keep working as long as
/// someone may still read the message.
pub const OPT_OUT_LINK_DAYS: i64 = 365;

/// A provider call still running after this long is certainly over (the send function times out after 30 s):
/// a send attempt older than this whose outcome was never recorded has an unknown outcome.
pub const SEND_ATTEMPT_TIMEOUT: Duration = Duration::minutes(2);

/// The path of a recovery link, `/r/{token}` (join it to `APP_URL`).
pub fn recovery_link_path(token: &str) -> String {
    format!("/r/{token}")
}

/// The path of a web opt-out link, `/stop/{token}` (join it to `APP_URL`).
pub fn opt_out_link_path(token: &str) -> String {
    format!("/stop/{token}")
}

/// A link token as it arrives in a URL: 16-64 URL-safe base64 characters (`shared::db::new_token` makes 22).
/// Anything else is not one of ours and never reaches the database.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkToken(String);

impl LinkToken {
    pub fn parse(value: &str) -> Option<Self> {
        let ok = (16..=64).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// User agents of the fetchers that open links to draw a preview (messaging apps, social networks, chat tools,
/// search and security scanners), lower-case. A preview is not the shopper clicking: it records no click and
/// re-creates no cart.
const LINK_PREVIEW_AGENTS: [&str; 16] = [
    "facebookexternalhit",
    "facebot",
    "twitterbot",
    "slackbot",
    "whatsapp",
    "telegrambot",
    "discordbot",
    "linkedinbot",
    "skypeuripreview",
    "applebot",
    "googlebot",
    "bingbot",
    "bingpreview",
    "google-pagerenderer",
    "embedly",
    "redditbot",
];

/// Whether a request with this `User-Agent` is a link-preview fetcher or crawler rather than a person. No
/// user agent at all is treated as automated too (browsers always send one).
pub fn is_link_preview(user_agent: Option<&str>) -> bool {
    let Some(agent) = user_agent.map(str::trim).filter(|a| !a.is_empty()) else {
        return true;
    };
    let agent = agent.to_ascii_lowercase();
    LINK_PREVIEW_AGENTS.iter().any(|bot| agent.contains(bot))
}

/// Whether replies to messages from `sender` reach us, so "Reply STOP" works. A number (long code, short
/// code), a Twilio Messaging Service and MessageMedia's own pool (no sender set) take replies; an alphanumeric
/// sender ID ("ACME") cannot, so its messages carry a web opt-out link instead.
pub fn sender_accepts_replies(sender: Option<&str>) -> bool {
    let Some(sender) = sender.map(str::trim).filter(|s| !s.is_empty()) else {
        return true;
    };
    let digits = sender.strip_prefix('+').unwrap_or(sender);
    let is_number = digits.bytes().all(|b| b.is_ascii_digit());
    let is_messaging_service = sender.len() == 34 && sender.starts_with("MG");
    is_number || is_messaging_service
}

/// What goes into one reminder.
#[derive(Debug, Clone, Copy)]
pub struct ReminderContent<'a> {
    pub brand: &'a str,
    pub first_name: Option<&'a str>,
    pub items: &'a [LineItem],
    /// The full recovery link.
    pub link: &'a str,
    pub discount_code: Option<&'a str>,
    /// The full web opt-out link, for senders that cannot take a STOP reply.
    pub opt_out_link: Option<&'a str>,
    /// The sender identification the recipient's market requires ([`Settings::sender_contact`]): replaces
    /// `{contact}`, or goes on a line of its own before the opt-out.
    pub sender_contact: Option<&'a str>,
}

/// A reminder ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedReminder {
    pub body: String,
    pub segments: u32,
    /// Product names left out because they name SHAFT content.
    pub omitted_items: usize,
}

/// Why a reminder cannot be sent as the template stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the reminder text fails the content rules: {}", problem_codes(.0))]
pub struct ContentRejected(pub Vec<ContentProblem>);

fn problem_codes(problems: &[ContentProblem]) -> String {
    problems.iter().map(ContentProblem::code).collect::<Vec<_>>().join(", ")
}

/// Longest product name put into a text; longer names are cut (segments cost money).
const MAX_ITEM_NAME_CHARS: usize = 40;
/// Product names named in a text; the rest are counted ("and 2 more").
const MAX_NAMED_ITEMS: usize = 2;

/// Renders the store's template (placeholders `{brand}`, `{first_name}`, `{items}`, `{link}`, `{discount}`,
/// `{contact}`): SHAFT product names are left out, the brand is prefixed if the template does not name it, the
/// link, the discount and the sender's contact details (Canada, Australia) are added if the template forgets
/// them, and the text ends with the opt-out: "Reply STOP to opt
/// out", or the web opt-out link for a sender that cannot take replies. The result must pass
/// [`review_marketing_message`] (links excepted: they are ours), or nothing is sent.
pub fn render_reminder(template: &str, content: &ReminderContent<'_>) -> Result<RenderedReminder, ContentRejected> {
    let (items, omitted_items) = describe_items(content.items);
    let first_name = content
        .first_name
        .map(str::trim)
        .filter(|name| !name.is_empty() && screen_shaft(name).is_empty())
        .unwrap_or("there");
    let discount = content
        .discount_code
        .map(str::trim)
        .filter(|code| !code.is_empty())
        .map(|code| format!("Use code {code} at checkout."));

    let mut body = template
        .replace("{brand}", content.brand)
        .replace("{first_name}", first_name)
        .replace("{items}", &items)
        .replace("{discount}", discount.as_deref().unwrap_or_default())
        .replace("{contact}", content.sender_contact.unwrap_or_default());
    if let Some(discount) = discount.as_deref().filter(|_| !template.contains("{discount}")) {
        body = format!("{} {discount}", body.trim_end());
    }
    body = if template.contains("{link}") {
        body.replace("{link}", content.link)
    } else {
        format!("{} {}", body.trim_end(), content.link)
    };
    body = collapse_spaces(&body);
    if review_marketing_message(&without_links(&body, content), content.brand)
        .problems
        .contains(&ContentProblem::MissingBrand)
    {
        body = format!("{}: {body}", content.brand);
    }
    if let Some(contact) = content.sender_contact.filter(|_| !template.contains("{contact}")) {
        body = format!("{body}\n{contact}");
    }
    // A line of its own: a period straight after a link can end up inside the link on some phones.
    body = match content.opt_out_link {
        Some(url) => format!("{body}\nOpt out: {url}"),
        None if ends_with_opt_out_instruction(&body) => body,
        None => format!("{body}\n{OPT_OUT_INSTRUCTION}"),
    };

    let problems: Vec<ContentProblem> = review_marketing_message(&without_links(&body, content), content.brand)
        .problems
        .into_iter()
        .filter(|p| !(content.opt_out_link.is_some() && *p == ContentProblem::MissingOptOutInstruction))
        .collect();
    if !problems.is_empty() {
        return Err(ContentRejected(problems));
    }
    Ok(RenderedReminder {
        segments: u32::try_from(count_segments(&body).segments).unwrap_or(u32::MAX),
        body,
        omitted_items,
    })
}

/// A recovery link of the usual length, for [`sample_reminder`].
const SAMPLE_LINK: &str = "https://app.example.com/r/Xk9vQ2mP7rT4wY8zB3nL6c";

/// The reminder the store's template renders for a typical cart in `market` (a first name, one product, a
/// recovery link of the usual length, the sender contact that market requires): the settings page's preview
/// and the two-segment check of [`Settings::problems`].
pub fn sample_reminder(settings: &Settings, market: Market) -> Result<RenderedReminder, ContentRejected> {
    let items = [LineItem {
        product_id: 1,
        variant_id: None,
        name: "Classic Cotton Tee".to_owned(),
        quantity: 1,
        price: Decimal::new(2500, 2),
        image_url: None,
    }];
    let sender_contact = settings.sender_contact(market);
    render_reminder(
        &settings.reminders.template,
        &ReminderContent {
            brand: settings.brand_name.trim(),
            first_name: Some("Alex"),
            items: &items,
            link: SAMPLE_LINK,
            discount_code: settings.reminders.discount_code.as_deref(),
            opt_out_link: None,
            sender_contact: sender_contact.as_deref(),
        },
    )
}

/// "Blue Mug", "Blue Mug and Red Hat", "Blue Mug, Red Hat and 2 more items", or "your items" when nothing
/// may be named.
fn describe_items(items: &[LineItem]) -> (String, usize) {
    let mut named: Vec<String> = Vec::new();
    let mut omitted = 0;
    let mut unnamed = 0;
    for item in items {
        if must_omit_product_name(&item.name) {
            omitted += 1;
            unnamed += 1;
        } else if named.len() < MAX_NAMED_ITEMS {
            named.push(shorten(item.name.trim()));
        } else {
            unnamed += 1;
        }
    }
    let text = match (named.as_slice(), unnamed) {
        ([], _) => "your items".to_owned(),
        ([one], 0) => one.clone(),
        ([one, two], 0) => format!("{one} and {two}"),
        (names, 1) => format!("{} and 1 more item", names.join(", ")),
        (names, more) => format!("{} and {more} more items", names.join(", ")),
    };
    (text, omitted)
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= MAX_ITEM_NAME_CHARS {
        return name.to_owned();
    }
    let cut: String = name.chars().take(MAX_ITEM_NAME_CHARS - 1).collect();
    let ends_a_word = name
        .chars()
        .nth(MAX_ITEM_NAME_CHARS - 1)
        .is_some_and(char::is_whitespace);
    // At a word boundary when there is one.
    let cut = match cut.rfind(' ') {
        Some(space) if space > 0 && !ends_a_word => &cut[..space],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

fn collapse_spaces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&line.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    out.replace(" .", ".").replace(" ,", ",").trim().to_owned()
}

/// The text with our own links replaced: a random token must never be read as a word (SHAFT screening).
fn without_links(body: &str, content: &ReminderContent<'_>) -> String {
    let mut text = body.replace(content.link, "LINK");
    if let Some(url) = content.opt_out_link {
        text = text.replace(url, "LINK");
    }
    text
}

/// The timing of reminder `step` for a cart abandoned at `abandoned_at`, if the schedule has that step.
pub fn step_timing(settings: &Settings, market: Market, abandoned_at: DateTime<Utc>, step: u8) -> Option<StepTiming> {
    reminder_schedule(settings, market, abandoned_at)
        .into_iter()
        .find(|t| t.step == step)
}

/// When the step after `step` is due, or `None` when `step` was the last one.
pub fn next_step_due(
    settings: &Settings,
    market: Market,
    abandoned_at: DateTime<Utc>,
    step: u8,
) -> Option<DateTime<Utc>> {
    step_timing(settings, market, abandoned_at, step.checked_add(1)?).map(|t| t.due)
}

/// A cart re-created through the API when a shopper clicked a recovery link: its order belongs to the
/// reminder that was clicked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecreatedCart {
    /// The shopper's original (abandoned) cart.
    pub cart_id: String,
    pub step: u8,
    pub clicked_at: DateTime<Utc>,
}

/// Stands for the reminder's unique coupon code in its text until the code is created (never sent).
pub const COUPON_SLOT: &str = "{coupon}";

/// The unique coupon code of one reminder: derived from `(store, cart, step)`, so creating it again after a
/// lost answer finds it exists (409) instead of making a second code.
pub fn reminder_coupon_code(store: &StoreHash, cart_id: &str, step: u8) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("{store}:{cart_id}:{step}").as_bytes());
    format!("SMS-{}", hex::encode_upper(&digest[..5]))
}

/// `coupon_body` with the code in place of [`COUPON_SLOT`], and its segment count.
pub fn with_coupon(coupon_body: &str, code: &str) -> (String, u32) {
    let body = coupon_body.replace(COUPON_SLOT, code);
    let segments = u32::try_from(count_segments(&body).segments).unwrap_or(u32::MAX);
    (body, segments)
}

/// An order credited to a reminder as recovered revenue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredOrder {
    pub order_id: u64,
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
    pub at: DateTime<Utc>,
    /// The reminder's unique coupon code, if the order redeemed it.
    pub coupon: Option<String>,
}

/// How long an invocation publishing a credit's `cart.recovered` holds it before another delivery of the order
/// may take over (the first died): shorter than the sync queue's visibility timeout, longer than an invocation.
pub const RECOVERY_EVENT_LEASE: Duration = Duration::minutes(5);

/// How long after a click, or after delivery, an order still counts as recovered by a reminder (last touch;
/// docs/consent-rules.md P-6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributionWindows {
    pub click: Duration,
    pub delivery: Duration,
}

impl Default for AttributionWindows {
    fn default() -> Self {
        Self {
            click: Duration::days(5),
            delivery: Duration::hours(24),
        }
    }
}

impl AttributionWindows {
    pub fn within_click(&self, clicked_at: DateTime<Utc>, order_at: DateTime<Utc>) -> bool {
        clicked_at <= order_at && order_at - clicked_at <= self.click
    }

    fn within_delivery(&self, delivered_at: DateTime<Utc>, order_at: DateTime<Utc>) -> bool {
        delivered_at <= order_at && order_at - delivered_at <= self.delivery
    }
}

/// The reminder an order placed at `order_at` from this cart is credited to: the last one clicked within
/// the click window, else the last one delivered (or sent, when no delivery report came) within the
/// delivery window. Reminders that never went out are never credited.
pub fn attribute(sends: &[SendRecord], order_at: DateTime<Utc>, windows: AttributionWindows) -> Option<&SendRecord> {
    let clicked = sends
        .iter()
        .filter_map(|s| {
            s.clicked_at
                .filter(|at| windows.within_click(*at, order_at))
                .map(|at| (at, s))
        })
        .max_by_key(|(at, _)| *at);
    if let Some((_, send)) = clicked {
        return Some(send);
    }
    sends
        .iter()
        .filter(|s| matches!(s.status, SendStatus::Sent | SendStatus::Delivered))
        .filter_map(|s| {
            s.delivered_at
                .or(s.sent_at)
                .filter(|at| windows.within_delivery(*at, order_at))
                .map(|at| (at, s))
        })
        .max_by_key(|(at, _)| *at)
        .map(|(_, s)| s)
}

/// What reminders achieved, for the settings page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RecoverySummary {
    /// Reminders the provider accepted.
    pub sent: usize,
    pub clicked: usize,
    pub orders_recovered: usize,
    /// Sum of the recovered orders' totals (in the store's currencies as they came).
    pub revenue: Decimal,
}

impl RecoverySummary {
    pub fn of(sends: &[SendRecord]) -> Self {
        let mut summary = Self::default();
        for send in sends {
            if matches!(send.status, SendStatus::Sent | SendStatus::Delivered) {
                summary.sent += 1;
            }
            if send.clicked_at.is_some() {
                summary.clicked += 1;
            }
            if send.recovered_order_id.is_some() {
                summary.orders_recovered += 1;
                summary.revenue += send.recovered_amount.unwrap_or_default();
            }
        }
        summary
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn link_previews_and_crawlers_are_told_apart_from_shoppers() {
        for bot in [
            "facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            "WhatsApp/2.23.20.0",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "TelegramBot (like TwitterBot)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "",
        ] {
            assert!(is_link_preview(Some(bot)), "{bot}");
        }
        assert!(is_link_preview(None));
        for person in [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
        ] {
            assert!(!is_link_preview(Some(person)), "{person}");
        }
    }

    use super::*;
    use crate::consent::ContentProblem;
    use crate::model::ReminderClaim;
    use crate::{Phone, StoreHash};

    fn item(name: &str) -> LineItem {
        LineItem {
            product_id: 1,
            variant_id: None,
            name: name.to_owned(),
            quantity: 1,
            price: Decimal::new(1250, 2),
            image_url: None,
        }
    }

    const LINK: &str = "https://app.example.com/r/Xk9vQ2mP7rT4wY8zB3nL6c";

    fn content<'a>(items: &'a [LineItem]) -> ReminderContent<'a> {
        ReminderContent {
            brand: "Acme",
            first_name: Some("Jane"),
            items,
            link: LINK,
            discount_code: None,
            opt_out_link: None,
            sender_contact: None,
        }
    }

    const TEMPLATE: &str = "{brand}: Hi {first_name}, you left {items} in your cart. Complete your order: {link}";

    #[test]
    fn the_default_template_names_brand_items_link_and_ends_with_the_opt_out() {
        let items = [item("Blue Mug")];
        let rendered = render_reminder(TEMPLATE, &content(&items)).unwrap();
        assert_eq!(
            rendered.body,
            format!(
                "Acme: Hi Jane, you left Blue Mug in your cart. Complete your order: {LINK}\nReply STOP to opt out"
            )
        );
        assert_eq!(rendered.segments, 1);
        assert_eq!(rendered.omitted_items, 0);
    }

    #[test]
    fn shaft_product_names_are_left_out() {
        let items = [item("Cabernet Sauvignon 2019"), item("Blue Mug"), item("Vape Pen")];
        let rendered = render_reminder(TEMPLATE, &content(&items)).unwrap();
        assert!(
            rendered.body.contains("you left Blue Mug and 2 more items in"),
            "{}",
            rendered.body
        );
        assert!(!rendered.body.contains("Cabernet") && !rendered.body.contains("Vape"));
        assert_eq!(rendered.omitted_items, 2);
        let only_wine = [item("Red Wine")];
        let rendered = render_reminder(TEMPLATE, &content(&only_wine)).unwrap();
        assert!(rendered.body.contains("you left your items in"), "{}", rendered.body);
    }

    #[test]
    fn items_are_counted_beyond_two_and_long_names_cut() {
        let long = "A very long product name that goes on and on forever and ever";
        let items = [item("Blue Mug"), item(long), item("Red Hat")];
        let rendered = render_reminder(TEMPLATE, &content(&items)).unwrap();
        assert!(
            rendered
                .body
                .contains("Blue Mug, A very long product name that goes on… and 1 more item")
        );
        let two = [item("Blue Mug"), item("Red Hat")];
        assert!(
            render_reminder(TEMPLATE, &content(&two))
                .unwrap()
                .body
                .contains("Blue Mug and Red Hat")
        );
    }

    #[test]
    fn a_missing_first_name_brand_link_or_discount_placeholder_is_handled() {
        let items = [item("Blue Mug")];
        let mut c = content(&items);
        c.first_name = None;
        c.discount_code = Some("SAVE10");
        let rendered = render_reminder("Hi {first_name}, your {items} is waiting.", &c).unwrap();
        assert_eq!(
            rendered.body,
            format!(
                "Acme: Hi there, your Blue Mug is waiting. Use code SAVE10 at checkout. {LINK}\nReply STOP to opt out"
            )
        );
        let rendered = render_reminder("{brand}: {items} waiting {discount} {link}", &content(&items)).unwrap();
        assert_eq!(
            rendered.body,
            format!("Acme: Blue Mug waiting {LINK}\nReply STOP to opt out")
        );
    }

    #[test]
    fn a_template_with_its_own_opt_out_line_is_not_doubled() {
        let items = [item("Blue Mug")];
        let rendered = render_reminder("{brand}: {items} {link} Text STOP to unsubscribe", &content(&items)).unwrap();
        assert!(rendered.body.ends_with("Text STOP to unsubscribe"));
        assert!(!rendered.body.contains("Reply STOP"));
    }

    #[test]
    fn senders_that_cannot_take_replies_get_a_web_opt_out_link() {
        let items = [item("Blue Mug")];
        let mut c = content(&items);
        c.opt_out_link = Some("https://app.example.com/stop/AbCdEfGhIjKlMnOpQrStUv");
        let rendered = render_reminder(TEMPLATE, &c).unwrap();
        assert!(
            rendered
                .body
                .ends_with("\nOpt out: https://app.example.com/stop/AbCdEfGhIjKlMnOpQrStUv")
        );
        assert!(!rendered.body.contains("Reply STOP"));
        assert!(sender_accepts_replies(None));
        assert!(sender_accepts_replies(Some("+61491570156")));
        assert!(sender_accepts_replies(Some("12345")));
        assert!(sender_accepts_replies(Some("MG0123456789abcdef0123456789abcdef")));
        assert!(!sender_accepts_replies(Some("ACME")));
        assert!(!sender_accepts_replies(Some("Acme Shop")));
    }

    #[test]
    fn a_shaft_template_is_rejected_and_link_tokens_never_count_as_words() {
        let items = [item("Blue Mug")];
        let error = render_reminder("{brand}: cold beer and {items}! {link}", &content(&items)).unwrap_err();
        assert!(matches!(error.0.as_slice(), [ContentProblem::Shaft { .. }]), "{error}");
        let mut c = content(&items);
        c.link = "https://app.example.com/r/abc-rum-gin_sex-xxxx";
        assert!(render_reminder(TEMPLATE, &c).is_ok());
    }

    #[test]
    fn link_tokens_parse_only_in_their_own_alphabet() {
        assert!(LinkToken::parse("Xk9vQ2mP7rT4wY8zB3nL6c").is_some());
        assert!(LinkToken::parse("short").is_none());
        assert!(LinkToken::parse("Xk9vQ2mP7rT4wY8zB3nL6c/../x").is_none());
        assert!(LinkToken::parse(&"a".repeat(65)).is_none());
        assert_eq!(
            recovery_link_path("Xk9vQ2mP7rT4wY8zB3nL6c"),
            "/r/Xk9vQ2mP7rT4wY8zB3nL6c"
        );
        assert_eq!(
            opt_out_link_path("Xk9vQ2mP7rT4wY8zB3nL6c"),
            "/stop/Xk9vQ2mP7rT4wY8zB3nL6c"
        );
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn send(step: u8, sent: &str) -> SendRecord {
        let mut record = SendRecord::claimed(ReminderClaim {
            store_hash: StoreHash::parse("abc123").unwrap(),
            cart_id: "c1".into(),
            step,
            phone: Phone::from_e164("+61412345678").unwrap(),
            claimed_at: t(sent),
            ledger_event_id: "e1".into(),
            settings_version: 1,
            body: String::new(),
            segments: 1,
            link_token: "tok".into(),
            coupon_body: None,
        });
        record.mark_sent("messagemedia", &format!("m{step}"), t(sent));
        record
    }

    #[test]
    fn a_click_within_five_days_wins_over_a_later_delivery() {
        let windows = AttributionWindows::default();
        let mut first = send(1, "2026-11-01T10:00:00Z");
        first.clicked_at = Some(t("2026-11-01T11:00:00Z"));
        let second = send(2, "2026-11-02T10:00:00Z");
        let sends = [first, second];
        assert_eq!(attribute(&sends, t("2026-11-02T12:00:00Z"), windows).unwrap().step, 1);
        // Past the click window, the delivery window no longer covers either.
        assert!(attribute(&sends, t("2026-11-06T11:00:01Z"), windows).is_none());
        // An order before the reminder went out is not recovered by it.
        assert!(attribute(&sends, t("2026-11-01T09:00:00Z"), windows).is_none());
    }

    #[test]
    fn without_a_click_the_last_delivery_within_24_hours_counts() {
        let windows = AttributionWindows::default();
        let mut first = send(1, "2026-11-01T10:00:00Z");
        first.delivered_at = Some(t("2026-11-01T10:00:05Z"));
        let mut failed = send(2, "2026-11-01T20:00:00Z");
        failed.status = SendStatus::Failed;
        let sends = [first, failed];
        assert_eq!(attribute(&sends, t("2026-11-02T10:00:00Z"), windows).unwrap().step, 1);
        assert!(attribute(&sends, t("2026-11-02T10:00:06Z"), windows).is_none());
    }

    #[test]
    fn the_summary_counts_sends_clicks_and_revenue() {
        let mut a = send(1, "2026-11-01T10:00:00Z");
        a.clicked_at = Some(t("2026-11-01T10:05:00Z"));
        a.recovered_order_id = Some(7);
        a.recovered_amount = Some(Decimal::new(4999, 2));
        let mut b = send(1, "2026-11-01T10:00:00Z");
        b.status = SendStatus::Failed;
        let summary = RecoverySummary::of(&[a, b]);
        assert_eq!(
            summary,
            RecoverySummary {
                sent: 1,
                clicked: 1,
                orders_recovered: 1,
                revenue: Decimal::new(4999, 2)
            }
        );
    }

    #[test]
    fn the_next_step_follows_the_schedule() {
        let settings = Settings::defaults(
            crate::model::MerchantUser {
                id: 1,
                email: "o@example.com".into(),
            },
            "Acme",
            t("2026-01-01T00:00:00Z"),
        );
        let abandoned = t("2026-11-02T10:00:00Z");
        assert_eq!(
            next_step_due(&settings, Market::Australia, abandoned, 1),
            Some(t("2026-11-03T10:30:00Z"))
        );
        assert_eq!(next_step_due(&settings, Market::Australia, abandoned, 3), None);
        assert_eq!(next_step_due(&settings, Market::Us, abandoned, 1), None);
        assert_eq!(
            step_timing(&settings, Market::Us, abandoned, 1).unwrap().expires,
            t("2026-11-04T10:00:00Z")
        );
    }
}
