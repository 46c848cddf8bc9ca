//! Requests from people, answered from the settings page: look a person up by phone number or email (their
//! consent state and ledger in plain sentences), export everything held about them (JSON), print the consent
//! evidence a carrier or a lawyer asks for, and erase them.
//!
//! Each is a settings action (`POST /settings/privacy-…`): the session and its CSRF token are checked first
//! ([`crate::settings::action`]), and every read and write is keyed by the session's store, so one store can
//! never reach another store's people. Full numbers and emails appear on these pages (the merchant asked for
//! that person) but never in logs.

use crate::page::{self, Notice};
use crate::session::{Session, SessionKeys};
use crate::{Deps, InstallError};
use chrono::{DateTime, Utc};
use http::{HeaderValue, StatusCode, header};
use shared::consent::{ConsentEvent, ConsentEventKind, ConsentState, ConsentStatus, OptOutMethod, Purpose, SentKind};
use shared::contacts::{normalize_email, parse_phone};
use shared::db::{ErasureCause, Person, PersonKey, PersonRecords, PhoneRecords};
use shared::model::{SendStatus, Store};
use shared::pages::{Markup, PreEscaped, html};
use shared::web::WebResponse;

pub const LOOKUP: &str = "privacy-lookup";
pub const EXPORT: &str = "privacy-export";
pub const EVIDENCE: &str = "privacy-evidence";
pub const ERASE: &str = "privacy-erase";

/// The settings actions this module answers.
pub fn handles(action: &str) -> bool {
    [LOOKUP, EXPORT, EVIDENCE, ERASE].contains(&action)
}

/// The field that names the person (a phone number or an email): [`PersonFields::person`].
const PERSON_FIELD: &str = "person";

/// What the request forms post.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PersonFields {
    /// The person, as typed or as a hidden field.
    person: String,
    /// The person typed again to confirm an erasure.
    confirm: String,
}

const TITLE: &str = "Requests from people";

/// Reads what the merchant typed: an email (anything with `@`) or a phone number, read with the store's
/// country for numbers typed without one.
pub fn person_key(typed: &str, country: Option<&str>) -> Result<PersonKey, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Err("Enter a phone number or an email address.".into());
    }
    if typed.contains('@') {
        return normalize_email(typed)
            .filter(|email| {
                email
                    .split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
            })
            .map(PersonKey::Email)
            .ok_or_else(|| "That is not a valid email address.".to_owned());
    }
    parse_phone(typed, country)
        .map(PersonKey::Phone)
        .map_err(|error| format!("That is not a valid mobile number: {error}. Include the country code (+1 …)."))
}

fn key_text(key: &PersonKey) -> &str {
    match key {
        PersonKey::Phone(phone) => phone.as_e164(),
        PersonKey::Email(email) => email,
    }
}

/// The settings page's section: the lookup form.
pub fn section(hidden_auth: Markup) -> Markup {
    html! {
        section id="requests" {
            h2 { (TITLE) }
            p {
                "Look a person up by phone number or email to see their consent and everything held about them, \
                 export it, print their consent evidence, or erase them."
            }
            (lookup_form(hidden_auth, ""))
        }
    }
}

fn lookup_form(hidden_auth: Markup, value: &str) -> Markup {
    html! {
        form method="post" action={ "/settings/" (LOOKUP) } {
            (hidden_auth)
            label for="person" { "Phone number or email" }
            input type="text" id="person" name=(PERSON_FIELD) value=(value) autocomplete="off";
            div class="actions" {
                button type="submit" id="lookup" { "Look up" }
            }
        }
    }
}

/// What every page here needs to render its forms.
pub struct Auth<'a> {
    pub session: &'a Session,
    pub keys: &'a SessionKeys,
}

impl Auth<'_> {
    fn hidden(&self) -> Markup {
        page::hidden_auth(&self.keys.csrf_token(self.session), &self.keys.seal(self.session))
    }

    /// A one-button form that posts the person to `action`.
    fn button(&self, action: &str, key: &PersonKey, id: &str, label: &str, class: &str) -> Markup {
        html! {
            form method="post" action={ "/settings/" (action) } {
                (self.hidden())
                input type="hidden" name=(PERSON_FIELD) value=(key_text(key));
                button type="submit" id=(id) class=(class) { (label) }
            }
        }
    }

    fn back_to_settings(&self) -> Markup {
        html! {
            form method="post" action="/settings/refresh" class="no-print" {
                (self.hidden())
                button type="submit" class="secondary" id="back-to-settings" { "Back to settings" }
            }
        }
    }
}

/// `POST /settings/privacy-…` once the session and CSRF token have been checked.
pub async fn respond(
    deps: &Deps,
    auth: &Auth<'_>,
    store: &Store,
    form: &PersonFields,
    action: &str,
) -> Result<WebResponse, InstallError> {
    let typed = form.person.as_str();
    let country = deps
        .aws
        .db
        .store_directory(&store.store_hash)
        .await?
        .and_then(|d| d.country_code);
    let key = match person_key(typed, country.as_deref()) {
        Ok(key) => key,
        Err(problem) => {
            return Ok(lookup_page(
                auth,
                store,
                typed,
                StatusCode::UNPROCESSABLE_ENTITY,
                &[Notice::error(problem)],
                None,
            ));
        }
    };
    let records = deps.aws.db.person_records(&store.store_hash, &key).await?;
    let now = deps.clock.now();
    if action == ERASE {
        return erase(deps, auth, store, form, country.as_deref(), &key, records).await;
    }
    tracing::info!(
        action,
        user_id = auth.session.user_id,
        phones = records.phones.len(),
        by = if matches!(key, PersonKey::Email(_)) {
            "email"
        } else {
            "phone"
        },
        "person request answered"
    );
    Ok(match action {
        EXPORT => export(&records, &key, &auth.session.email, now),
        EVIDENCE => evidence_page(auth, store, &records, &key, now),
        _ => lookup_page(auth, store, key_text(&key), StatusCode::OK, &[], Some((&key, &records))),
    })
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// One sentence: where the person stands for marketing texts.
fn status_sentence(state: &ConsentState<'_>) -> String {
    match state.status() {
        ConsentStatus::Subscribed => {
            let basis = state
                .strongest()
                .map(|g| g.basis.describe())
                .unwrap_or("consent on record");
            format!("Subscribed to marketing texts, through {basis}.")
        }
        ConsentStatus::PendingDoubleOptIn => "Waiting for a reply to the double opt-in request.".to_owned(),
        ConsentStatus::Unsubscribed => match state.withdrawal {
            Some(event) => format!(
                "Unsubscribed since {}: texts stay suppressed until the person opts in again themselves.",
                when(event.occurred_at)
            ),
            None => "Unsubscribed (BigCommerce reported a general marketing opt-out).".to_owned(),
        },
        ConsentStatus::NeverSubscribed => "Never subscribed to marketing texts.".to_owned(),
    }
}

fn ledger_list(ledger: &[ConsentEvent]) -> Markup {
    html! {
        @if ledger.is_empty() {
            p class="muted" { "No consent events." }
        } @else {
            ol class="ledger" {
                @for event in ledger {
                    li { time { (when(event.occurred_at)) } " " (event.sentence()) }
                }
            }
        }
    }
}

fn lookup_page(
    auth: &Auth<'_>,
    store: &Store,
    typed: &str,
    code: StatusCode,
    notices: &[Notice],
    found: Option<(&PersonKey, &PersonRecords)>,
) -> WebResponse {
    let body = html! {
        header {
            h1 { (TITLE) }
            p class="who" { "Store " (store.store_hash.as_str()) " · signed in as " (auth.session.email) }
        }
        @for notice in notices {
            (notice)
        }
        section id="lookup-form" { (lookup_form(auth.hidden(), typed)) }
        @if let Some((key, records)) = found {
            (person_section(auth, key, records))
        }
        (auth.back_to_settings())
    };
    page::respond_for_store(&store.store_hash, code, TITLE, body)
}

fn person_section(auth: &Auth<'_>, key: &PersonKey, records: &PersonRecords) -> Markup {
    let value = key_text(key);
    html! {
        section id="person-records" {
            @if records.is_empty() {
                p id="nothing-held" {
                    "Nothing is held about " strong { (value) } " at this store: no contact, consent, message, \
                     cart, reply or newsletter record."
                }
            } @else {
                h2 { (value) }
                @for phone in &records.phones {
                    (phone_summary(phone))
                }
                @if !records.subscribers.is_empty() {
                    h3 { "Newsletter" }
                    ul id="subscribers" {
                        @for subscriber in &records.subscribers {
                            li {
                                (subscriber.email) " is a newsletter subscriber (BigCommerce id "
                                (subscriber.subscriber_id) "), "
                                @if subscriber.opted_in() { "subscribed" } @else { "unsubscribed" }
                                " as of " (when(subscriber.modified_at)) "."
                            }
                        }
                    }
                }
                h3 { "Answer the request" }
                div class="actions" {
                    (auth.button(EXPORT, key, "export", "Export data (JSON)", "secondary"))
                    (auth.button(EVIDENCE, key, "evidence", "Consent evidence (printable)", "secondary"))
                }
                form method="post" action={ "/settings/" (ERASE) } id="erase-form" {
                    (auth.hidden())
                    input type="hidden" name=(PERSON_FIELD) value=(value);
                    h3 { "Erase" }
                    p {
                        "Removes their name, email, address, cart contents, the text of the messages sent to them \
                         and their replies. The consent record and each message's record stay as proof, and the \
                         number stays suppressed: it is never texted again unless the person opts in again \
                         themselves. This cannot be undone."
                    }
                    label for="erase-confirm" { "To confirm, type " strong { (value) } }
                    input type="text" id="erase-confirm" name="confirm" autocomplete="off";
                    div class="actions" {
                        button type="submit" id="erase" class="danger" { "Erase this person" }
                    }
                }
            }
        }
    }
}

/// `privacy-erase`: after the merchant typed the number or email again, erases the person (recorded with the
/// session's user), then shows what is left: the proof, suppressed.
async fn erase(
    deps: &Deps,
    auth: &Auth<'_>,
    store: &Store,
    form: &PersonFields,
    country: Option<&str>,
    key: &PersonKey,
    records: PersonRecords,
) -> Result<WebResponse, InstallError> {
    let confirmed = person_key(&form.confirm, country).is_ok_and(|typed| typed == *key);
    if !confirmed {
        let notice = Notice::error(format!(
            "Nothing was erased: to confirm, type {} exactly as shown.",
            key_text(key)
        ));
        return Ok(lookup_page(
            auth,
            store,
            key_text(key),
            StatusCode::UNPROCESSABLE_ENTITY,
            &[notice],
            Some((key, &records)),
        ));
    }
    let person = Person {
        phones: records.phones.iter().map(|p| p.phone.clone()).collect(),
        emails: records.emails.clone(),
    };
    let cause = ErasureCause::MerchantRequest {
        user_id: auth.session.user_id,
        user_email: auth.session.email.clone(),
    };
    let now = deps.clock.now();
    let report = deps
        .aws
        .db
        .erase_person(&store.store_hash, &person, &cause, now)
        .await?;
    tracing::info!(
        user_id = auth.session.user_id,
        phones = report.phones.len(),
        scrubbed = report.items_scrubbed,
        deleted = report.items_deleted,
        "person erased at the merchant's request"
    );
    let mut notices = vec![Notice::success(format!(
        "Erased {} on {} at the request of {}: {} record{} scrubbed, {} deleted.",
        key_text(key),
        when(now),
        auth.session.email,
        report.items_scrubbed,
        plural(report.items_scrubbed as usize, "", "s"),
        report.items_deleted
    ))];
    if !report.phones.is_empty() {
        let numbers: Vec<&str> = report.phones.iter().map(|p| p.as_e164()).collect();
        notices.push(Notice::success(format!(
            "{} stay{} on record only as consent proof and stay{} suppressed: this store will not text {} again \
             unless the person opts in again themselves.",
            numbers.join(", "),
            plural(numbers.len(), "s", ""),
            plural(numbers.len(), "s", ""),
            plural(numbers.len(), "it", "them"),
        )));
    }
    // What is left: the proof under each number (found by email no more: the email is gone).
    let left = match key {
        PersonKey::Email(_) if !report.phones.is_empty() => {
            let mut phones = Vec::with_capacity(report.phones.len());
            for phone in &report.phones {
                phones.push(deps.aws.db.phone_records(&store.store_hash, phone).await?);
            }
            PersonRecords {
                store_hash: store.store_hash.clone(),
                phones,
                emails: Vec::new(),
                subscribers: Vec::new(),
            }
        }
        _ => deps.aws.db.person_records(&store.store_hash, key).await?,
    };
    Ok(lookup_page(
        auth,
        store,
        key_text(key),
        StatusCode::OK,
        &notices,
        Some((key, &left)),
    ))
}

fn phone_summary(phone: &PhoneRecords) -> Markup {
    let state = ConsentState::fold(&phone.ledger, Purpose::Marketing);
    let e164 = phone.phone.as_e164();
    let contact = phone.contact.as_ref().map(|contact| {
        let name = [contact.first_name.as_deref(), contact.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let mut parts = Vec::new();
        if !name.is_empty() {
            parts.push(name);
        }
        if let Some(email) = &contact.email {
            parts.push(email.clone());
        }
        if let Some(id) = contact.customer_id {
            parts.push(format!("customer {id}"));
        }
        if let Some(at) = contact.erased_at {
            parts.push(format!("erased {}", when(at)));
        }
        if parts.is_empty() {
            "no personal details".to_owned()
        } else {
            parts.join(", ")
        }
    });
    let reminders = phone.reminders().len();
    html! {
        div class="phone" data-phone=(e164) {
            h3 { (e164) }
            p class="state" { (status_sentence(&state)) }
            @if let Some(contact) = contact {
                p class="contact" { "Contact: " (contact) "." }
            }
            p class="held" {
                (phone.messages.len()) " message" (plural(phone.messages.len(), "", "s")) " sent ("
                (reminders) " cart reminder" (plural(reminders, "", "s")) "), " (phone.carts.len()) " cart"
                (plural(phone.carts.len(), "", "s")) ", " (phone.replies.len()) " repl"
                (plural(phone.replies.len(), "y", "ies")) " received."
            }
            h4 { "Consent ledger" }
            (ledger_list(&phone.ledger))
        }
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// The JSON file of everything held: as stored, less the recovery-link tokens (bearer secrets that would let
/// whoever holds the file act as the shopper's link).
pub fn export_json(records: &PersonRecords, key: &PersonKey, by: &str, now: DateTime<Utc>) -> serde_json::Value {
    let mut held = serde_json::to_value(records).unwrap_or_default();
    strip_tokens(&mut held);
    serde_json::json!({
        "exported_at": now,
        "exported_by": by,
        "looked_up_by": key_text(key),
        "store_hash": records.store_hash,
        "phones": held["phones"],
        "emails": held["emails"],
        "subscribers": held["subscribers"],
    })
}

fn strip_tokens(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.remove("link_token");
            map.values_mut().for_each(strip_tokens);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_tokens),
        _ => {}
    }
}

fn export(records: &PersonRecords, key: &PersonKey, by: &str, now: DateTime<Utc>) -> WebResponse {
    let body = serde_json::to_string_pretty(&export_json(records, key, by, now)).unwrap_or_default();
    let mut response = shared::web::text(StatusCode::OK, body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // No name or number in the file name: downloads folders and browser histories keep it.
    let disposition = format!(
        "attachment; filename=\"person-{}-{}.json\"",
        records.store_hash,
        now.format("%Y%m%dT%H%M%SZ")
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const PRINT_STYLE: &str = "\
.evidence table th{width:28%}.evidence blockquote{margin:4px 0;padding:8px 12px;border-left:3px solid var(--line);\
background:#fafbff;white-space:pre-wrap}.evidence article{border-top:1px solid var(--line);padding-top:8px;margin-top:12px}\
@media print{body{background:#fff}main{max-width:none;padding:0}.no-print{display:none}\
section,.card{border:none;padding:0}article{break-inside:avoid}}";

/// The printable consent evidence: for each consent, the exact wording and version shown, where and when,
/// from which IP and browser, the checkout it was verified against, the double opt-in exchange, and every
/// message sent under it with the decision that allowed it; then every opt-out.
fn evidence_page(
    auth: &Auth<'_>,
    store: &Store,
    records: &PersonRecords,
    key: &PersonKey,
    now: DateTime<Utc>,
) -> WebResponse {
    let on_record = |p: &&PhoneRecords| !p.ledger.is_empty() || !p.messages.is_empty();
    let body = html! {
        style { (PreEscaped(PRINT_STYLE)) }
        header {
            h1 { "Consent evidence" }
            p class="who" {
                "Store " (store.store_hash.as_str()) " · " (key_text(key)) " · prepared by " (auth.session.email)
                " on " (when(now))
            }
        }
        @if !records.phones.iter().any(|p| on_record(&p)) {
            section class="evidence" { p id="no-evidence" { "No consent or message is on record." } }
        }
        @for phone in records.phones.iter().filter(on_record) {
            (phone_evidence(phone))
        }
        div class="actions no-print" {
            (auth.button(LOOKUP, key, "back-to-lookup", "Back to the lookup", "secondary"))
        }
    };
    page::respond_for_store(&store.store_hash, StatusCode::OK, "Consent evidence", body)
}

fn row(label: &str, value: &str) -> Markup {
    html! { tr { th { (label) } td { (value) } } }
}

fn gives_consent(kind: &ConsentEventKind) -> bool {
    matches!(
        kind,
        ConsentEventKind::CheckoutCheckbox { .. }
            | ConsentEventKind::KeywordOptIn { .. }
            | ConsentEventKind::DoubleOptInConfirmed { .. }
            | ConsentEventKind::GeneralMarketing { opted_in: true, .. }
            | ConsentEventKind::Inferred { .. }
            | ConsentEventKind::ImportDefault { .. }
            | ConsentEventKind::Purchase { .. }
    )
}

fn phone_evidence(phone: &PhoneRecords) -> Markup {
    let state = ConsentState::fold(&phone.ledger, Purpose::Marketing);
    let e164 = phone.phone.as_e164();
    let consents: Vec<&ConsentEvent> = phone.ledger.iter().filter(|e| gives_consent(&e.kind)).collect();
    // Reminders not sent under any consent listed above (none should exist).
    let listed: Vec<&str> = consents.iter().map(|e| e.event_id.as_str()).collect();
    let others: Vec<_> = phone
        .reminders()
        .into_iter()
        .filter(|s| !listed.contains(&s.ledger_event_id.as_str()))
        .collect();
    let transactional: Vec<_> = phone
        .messages
        .iter()
        .filter(|m| !matches!(m.kind, SentKind::CartReminder { .. }))
        .collect();
    let withdrawals: Vec<&ConsentEvent> = phone
        .ledger
        .iter()
        .filter(|e| matches!(e.kind, ConsentEventKind::OptOut(_) | ConsentEventKind::Erasure { .. }))
        .collect();
    html! {
        section class="evidence" data-phone=(e164) {
            h2 { (e164) }
            p class="state" { (status_sentence(&state)) }
            h3 { "Consents" }
            @if consents.is_empty() {
                p class="muted" { "No consent was given." }
            }
            @for event in &consents {
                (consent_article(phone, event))
            }
            @if !others.is_empty() {
                h3 { "Other reminders" }
                (reminders_table(phone, &others))
            }
            @if !transactional.is_empty() {
                h3 { "Service messages" }
                table class="service" {
                    tbody {
                        @for message in transactional {
                            (row(&when(message.sent_at), service_message(&message.kind)))
                        }
                    }
                }
            }
            h3 { "Opt-outs" }
            @if withdrawals.is_empty() {
                p class="muted" id="no-opt-outs" { "No opt-out is on record." }
            } @else {
                table class="opt-outs" {
                    tbody {
                        @for event in withdrawals {
                            (row(&when(event.occurred_at), &withdrawal_detail(event)))
                        }
                    }
                }
            }
            h3 { "Full ledger" }
            (ledger_list(&phone.ledger))
        }
    }
}

fn service_message(kind: &SentKind) -> &'static str {
    match kind {
        SentKind::OptOutConfirmation => "Opt-out confirmation",
        SentKind::HelpReply => "Answer to HELP",
        SentKind::DoubleOptInRequest => "Double opt-in request",
        SentKind::CartReminder { .. } => "Cart reminder",
    }
}

/// An opt-out with its evidence: the text, the web page's IP and browser, or the merchant who recorded it.
fn withdrawal_detail(event: &ConsentEvent) -> String {
    match &event.kind {
        ConsentEventKind::OptOut(OptOutMethod::Keyword { raw_text, message_id }) => format!(
            "{} Text: \"{raw_text}\"{}.",
            event.sentence(),
            message_id
                .as_deref()
                .map(|id| format!(", message {id}"))
                .unwrap_or_default()
        ),
        ConsentEventKind::OptOut(OptOutMethod::WebPage { ip, user_agent }) => format!(
            "{} IP address {}, browser {}.",
            event.sentence(),
            ip.as_deref().unwrap_or("unknown"),
            user_agent.as_deref().unwrap_or("unknown")
        ),
        ConsentEventKind::OptOut(OptOutMethod::Merchant { user_email }) => {
            format!("{} By {user_email}.", event.sentence())
        }
        _ => event.sentence(),
    }
}

fn consent_article(phone: &PhoneRecords, event: &ConsentEvent) -> Markup {
    let sent: Vec<_> = phone
        .reminders()
        .into_iter()
        .filter(|s| s.ledger_event_id == event.event_id)
        .collect();
    html! {
        article class="consent" data-event=(event.event_id) {
            h4 { (when(event.occurred_at)) " · " (event.sentence()) }
            table {
                tbody {
                    (row("Ledger entry", &event.event_id))
                    (row("Recorded", &when(event.recorded_at)))
                    (consent_rows(phone, event))
                }
            }
            @if sent.is_empty() {
                p class="muted" { "No reminder was sent under this consent." }
            } @else {
                h5 { "Messages sent under this consent (" (sent.len()) ")" }
                (reminders_table(phone, &sent))
            }
        }
    }
}

/// The evidence particular to how the consent was given.
fn consent_rows(phone: &PhoneRecords, event: &ConsentEvent) -> Markup {
    match &event.kind {
        ConsentEventKind::CheckoutCheckbox {
            disclosure_version,
            disclosure_text,
            checkbox_default_checked,
            ip,
            user_agent,
            page_url,
            cart_id,
        } => {
            let verification = phone.ledger.iter().find(|e| {
                matches!(&e.kind, ConsentEventKind::CheckoutPhoneVerified { checkbox_event_id, .. }
                    if *checkbox_event_id == event.event_id)
            });
            let verified = match verification {
                Some(ConsentEvent {
                    kind: ConsentEventKind::CheckoutPhoneVerified { cart_id, .. },
                    occurred_at,
                    ..
                }) => Some(format!(
                    "{cart_id}: the number is that checkout's billing phone (checked {}).",
                    when(*occurred_at)
                )),
                Some(_) => None,
                None => Some("not verified".to_owned()),
            };
            html! {
                tr {
                    th { "Disclosure text shown" }
                    td { blockquote class="disclosure" { (disclosure_text) } }
                }
                (row("Disclosure version", disclosure_version))
                (row(
                    "Checkbox",
                    if *checkbox_default_checked {
                        "served pre-ticked (not consent)"
                    } else {
                        "served unticked; ticked by the shopper"
                    },
                ))
                (row("Page", page_url.as_deref().unwrap_or("not recorded")))
                (row("IP address", ip))
                (row("Browser (user agent)", user_agent))
                (row("Checkout", cart_id.as_deref().unwrap_or("not recorded")))
                @if let Some(verified) = verified {
                    (row("Verified against checkout", &verified))
                }
                (double_opt_in_rows(phone, event.occurred_at, None))
            }
        }
        ConsentEventKind::KeywordOptIn {
            raw_text, message_id, ..
        } => html! {
            (row("Text received", raw_text))
            (row("Message id", message_id.as_deref().unwrap_or("not recorded")))
        },
        ConsentEventKind::DoubleOptInConfirmed { .. } => double_opt_in_rows(phone, event.occurred_at, Some(event)),
        ConsentEventKind::GeneralMarketing { evidence, .. } => row("Evidence", evidence),
        ConsentEventKind::Inferred { source } => row("Source", source),
        ConsentEventKind::ImportDefault { sync_job_id } => row("Contact sync", sync_job_id),
        ConsentEventKind::Purchase { order_id, .. } => row("Order", &order_id.to_string()),
        _ => html! {},
    }
}

/// The double opt-in exchange: the request texted (its exact words) and the reply that confirmed it. For a
/// checkbox, the first exchange after it; for a confirmation, the request it answered.
fn double_opt_in_rows(phone: &PhoneRecords, after: DateTime<Utc>, confirmation: Option<&ConsentEvent>) -> Markup {
    let confirmed = confirmation.or_else(|| {
        phone
            .ledger
            .iter()
            .find(|e| e.occurred_at >= after && matches!(e.kind, ConsentEventKind::DoubleOptInConfirmed { .. }))
    });
    let before = confirmed.map(|c| c.occurred_at);
    let request = phone.ledger.iter().rfind(|e| {
        matches!(e.kind, ConsentEventKind::DoubleOptInRequested { .. })
            && before.is_none_or(|b| e.occurred_at <= b)
            && (confirmation.is_some() || e.occurred_at >= after)
    });
    let message = |id: &Option<String>| id.as_deref().map(|id| format!(" (message {id})")).unwrap_or_default();
    html! {
        @match request {
            Some(ConsentEvent {
                kind: ConsentEventKind::DoubleOptInRequested { text, message_id },
                occurred_at,
                ..
            }) => {
                tr {
                    th { "Double opt-in request" }
                    td {
                        "Texted " (when(*occurred_at)) (message(message_id)) ":"
                        blockquote class="doi-request" { (text) }
                    }
                }
            }
            Some(_) => {}
            None if confirmation.is_none() => (row("Double opt-in", "none")),
            None => {}
        }
        @if let Some(ConsentEvent {
            kind: ConsentEventKind::DoubleOptInConfirmed { raw_text, message_id },
            occurred_at,
            ..
        }) = confirmed
        {
            (row(
                "Double opt-in reply",
                &format!("\"{raw_text}\" received {}{}", when(*occurred_at), message(message_id)),
            ))
        }
    }
}

fn reminders_table(phone: &PhoneRecords, sends: &[&shared::model::SendRecord]) -> Markup {
    html! {
        table class="reminders" {
            thead { tr { th { "Sent" } th { "Message" } th { "Decision that allowed it" } } }
            tbody {
                @for send in sends {
                    tr class="reminder" {
                        td {
                            (when(send.sent_at.unwrap_or(send.claimed_at))) br;
                            "cart " (send.cart_id) " · step " (send.step) " · " (reminder_status(send.status))
                            @if let Some(id) = &send.provider_message_id {
                                " · " (send.provider.as_deref().unwrap_or("provider")) " id " (id)
                            }
                        }
                        td { (send.body) }
                        td { (allowing_decision(phone, send)) }
                    }
                }
            }
        }
    }
}

fn reminder_status(status: SendStatus) -> &'static str {
    match status {
        SendStatus::Claimed => "sending",
        SendStatus::Sent => "sent",
        SendStatus::Delivered => "delivered",
        SendStatus::Failed => "not sent",
        SendStatus::Unconfirmed => "may have been sent (unconfirmed)",
    }
}

/// The consent decision that allowed a reminder, with the settings and ledger entry it was made on.
fn allowing_decision(phone: &PhoneRecords, send: &shared::model::SendRecord) -> String {
    match phone.allowing_decision(send) {
        Some(d) => format!(
            "{} · {} Settings version {}, ledger entry {}.",
            when(d.decided_at),
            d.explanation,
            send.settings_version,
            send.ledger_event_id
        ),
        None => format!(
            "Settings version {}, ledger entry {}.",
            send.settings_version, send.ledger_event_id
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_is_named_by_a_valid_number_or_email() {
        assert_eq!(
            person_key(" Jane@Example.com ", None),
            Ok(PersonKey::Email("jane@example.com".into()))
        );
        assert_eq!(
            person_key("(212) 201-4567", Some("US")),
            Ok(PersonKey::Phone(shared::Phone::from_e164("+12122014567").unwrap()))
        );
        assert!(person_key("jane@", None).is_err());
        assert!(
            person_key("12", Some("US"))
                .unwrap_err()
                .contains("not a valid mobile number")
        );
        assert!(person_key("  ", None).is_err());
    }

    #[test]
    fn the_export_carries_no_link_tokens() {
        let mut value = serde_json::json!({"a": [{"link_token": "secret", "body": "x"}], "link_token": "t"});
        strip_tokens(&mut value);
        assert_eq!(value, serde_json::json!({"a": [{"body": "x"}]}));
    }
}
