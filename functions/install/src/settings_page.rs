//! The settings page's HTML: the three consent options as the MessageMedia opt-in seed describes them, the
//! contact, message and reminder settings, the checkout checkbox preview, and (once connected) the status.
//! Pure: data in, markup out; each section is a function named after it.

use crate::form::{SettingsForm, non_empty, option_value};
use crate::page::Notice;
use crate::status::{OutageReport, RECENT_REMINDERS, Status};
use chrono::{DateTime, Utc};
use shared::StoreHash;
use shared::bigcommerce::Promotion;
use shared::model::settings::{
    FIRST_DELAY_MINUTES, LATER_STEP_DELAY_HOURS, NARROWING_HOURS, REMINDER_STEPS, SMART_SENDING_HOURS, SettingsProblem,
};
use shared::model::{ConsentOption, SendStatus, SenderStatus, Settings, SyncJob, SyncJobStatus};
use shared::pages::{Markup, PreEscaped, html};
use std::fmt::Write;

/// Everything the page shows.
pub struct SettingsView<'a> {
    pub store_hash: &'a StoreHash,
    pub user_email: &'a str,
    pub csrf: &'a str,
    /// The sealed session, also carried in every form: browsers that block third-party cookies (Safari) drop
    /// the cookie inside the control panel's iframe, and the form still authenticates the post.
    pub session_token: &'a str,
    /// The settings version the form was opened on (a save based on an older one is refused).
    pub based_on_version: u32,
    /// The settings in force, once the merchant has connected.
    pub in_force: Option<&'a Settings>,
    /// What the fields show: the settings in force, the defaults, or what the merchant just posted.
    pub values: &'a SettingsForm,
    pub problems: &'a [SettingsProblem],
    pub notices: &'a [Notice],
    /// One line about the checkout checkbox script, once connected.
    pub script_line: Option<String>,
    pub status: Option<&'a Status>,
    /// Whether the sender in force is approved for this store, once connected.
    pub sender: Option<&'a SenderStatus>,
    /// The store's enabled coupon promotions; `None` when BigCommerce could not list them.
    pub promotions: Option<&'a [Promotion]>,
}

pub const TITLE: &str = "SMS consent & cart recovery";

impl SettingsView<'_> {
    /// The hidden fields that authenticate a form post: the session and its CSRF token.
    fn hidden_auth(&self) -> Markup {
        crate::page::hidden_auth(self.csrf, self.session_token)
    }
}

pub fn option_title(option: ConsentOption) -> &'static str {
    match option {
        ConsentOption::SmsCheckbox => "Option 1 · SMS marketing opt-in",
        ConsentOption::GeneralMarketing => "Option 2 · General marketing opt-in",
        ConsentOption::Inferred => "Option 3 · None (inferred consent)",
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// What the merchant reads about the latest SMS provider outage: when, and what became of the reminders it
/// delayed (each went out afterwards, was not sent for a recorded reason, or is still waiting).
pub fn outage_notice(report: &OutageReport) -> String {
    let outage = &report.outage;
    let reminders = |n: usize| {
        if n == 1 {
            "1 reminder was".to_owned()
        } else {
            format!("{n} reminders were")
        }
    };
    let mut text = format!(
        "The SMS provider could not be reached between {} and {}; {} delayed: {} sent afterwards",
        when(outage.first_failed_at),
        when(outage.last_failed_at),
        reminders(outage.delayed.len()),
        report.sent
    );
    let not_sent: usize = report.not_sent.values().sum();
    if not_sent > 0 {
        let reasons: Vec<String> = report
            .not_sent
            .iter()
            .map(|(why, n)| format!("{}: {n}", why.replace('_', " ")))
            .collect();
        let _ = write!(text, ", {not_sent} not sent ({})", reasons.join(", "));
    }
    if report.waiting > 0 {
        let _ = write!(text, ", {} still waiting", report.waiting);
    }
    text.push('.');
    text
}

pub fn render(view: &SettingsView<'_>) -> Markup {
    html! {
        header {
            h1 { (TITLE) }
            p class="who" { "Store " (view.store_hash.as_str()) " · signed in as " (view.user_email) }
        }
        @for notice in view.notices {
            (notice)
        }
        (problems(view.problems))
        @if let Some(settings) = view.in_force {
            (status_section(view, settings))
        }
        (settings_form(view))
        @if view.in_force.is_some() {
            (crate::test_text::section(view.hidden_auth()))
        }
        (crate::privacy::section(view.hidden_auth()))
    }
}

/// Why nothing was saved, each problem linking to its field.
fn problems(problems: &[SettingsProblem]) -> Markup {
    html! {
        @if !problems.is_empty() {
            div class="notice error problems" role="alert" id="problems" {
                strong { "Nothing was saved. Please fix:" }
                ul {
                    @for problem in problems {
                        li { a href={ "#" (field_anchor(problem.field)) } { (problem.message) } }
                    }
                }
            }
        }
    }
}

/// The input a problem points at (quiet hours span two inputs).
fn field_anchor(field: &str) -> &str {
    match field {
        "quiet_hours" => "quiet_start",
        other => other,
    }
}

/// Once connected: what is in force, then how contacts, reminders and consent are doing.
fn status_section(view: &SettingsView<'_>, settings: &Settings) -> Markup {
    html! {
        section id="status" {
            h2 { "Status" }
            p id="connected" {
                "Connected with " strong { (option_title(settings.consent_option)) } ": settings version "
                (settings.version) ", saved by " (settings.saved_by.email) " on " (when(settings.saved_at)) "."
            }
            @if let Some(line) = &view.script_line {
                p id="script-status" { (line) }
            }
            @if let Some(status) = view.status {
                @if let Some(report) = &status.outage {
                    div class="notice warning" role="status" id="sms-outage" { (outage_notice(report)) }
                }
                (sync_status(view, settings, status))
                (crate::glance::section(status))
                (consent_counts(status))
                (recent_reminders(status))
                (recent_decisions(status))
            }
        }
    }
}

/// Contact sync: the last job's progress and the buttons that act on it.
fn sync_status(view: &SettingsView<'_>, settings: &Settings, status: &Status) -> Markup {
    let failed_pages = status.failed_pages.len();
    let running = status
        .sync_job
        .as_ref()
        .is_some_and(|j| j.status == SyncJobStatus::Running);
    html! {
        h3 { "Contact sync" }
        div id="sync" {
            @match &status.sync_job {
                None if settings.sync_contacts => p { "No sync has run yet." },
                None => p { "Contact sync is off." },
                Some(job) => (sync_job(job)),
            }
            @if failed_pages > 0 {
                form method="post" action="/settings/retry-failed-pages" {
                    (view.hidden_auth())
                    button type="submit" class="secondary" id="retry-failed-pages" {
                        "Retry " (failed_pages) " failed page" (plural(failed_pages as u64))
                    }
                }
            }
            @if running {
                form method="post" action="/settings/refresh" {
                    (view.hidden_auth())
                    button type="submit" class="secondary" id="refresh" { "Refresh progress" }
                }
            }
            @if settings.sync_contacts && !running {
                form method="post" action="/settings/sync" {
                    (view.hidden_auth())
                    button type="submit" class="secondary" id="sync-now" { "Sync contacts now" }
                }
            }
        }
    }
}

fn sync_job(job: &SyncJob) -> Markup {
    let state = match job.status {
        SyncJobStatus::Running => "Running",
        SyncJobStatus::Completed => "Completed",
        SyncJobStatus::CompletedWithFailures => "Completed with failed pages",
    };
    let percent = job.percent_done();
    let ids: Vec<String> = job.skipped_customers.iter().map(u64::to_string).collect();
    let more = job.skipped_malformed.saturating_sub(ids.len() as u64);
    html! {
        p { strong { (state) } " · started " (when(job.started_at)) }
        progress id="sync-progress" max="100" value=(percent) { (percent) "%" }
        p {
            (percent) "% · " (job.pages_done) " of "
            @if job.total_pages == 0 { "?" } @else { (job.total_pages) }
            " pages done"
            @if job.pages_failed > 0 { ", " (job.pages_failed) " failed" }
            " · " (job.contacts_imported) " contacts imported · " (job.skipped_no_phone)
            " skipped without a phone · " (job.skipped_invalid_phone) " skipped with an invalid phone"
        }
        @if job.skipped_malformed > 0 {
            p id="skipped-customers" {
                (job.skipped_malformed) " customer record" (plural(job.skipped_malformed)) " could not be read and "
                @if job.skipped_malformed == 1 { "was" } @else { "were" }
                " skipped (customer ID" (plural(ids.len() as u64)) ": " (ids.join(", "))
                @if more > 0 { " and " (more) " more" }
                ")."
            }
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn consent_counts(status: &Status) -> Markup {
    let counts = status.consent_counts;
    html! {
        h3 { "Contacts by consent" }
        table class="counts" id="consent-counts" {
            tbody {
                tr { th { "Subscribed" } td data-state="subscribed" { (counts.subscribed) } }
                tr {
                    th { (PreEscaped("&hellip;")) " of whom gave express consent for texts (checkbox, keyword or double opt-in)" }
                    td data-state="subscribed_sms_express" { (counts.subscribed_sms_express) }
                }
                tr {
                    th { "Waiting for a double opt-in reply" }
                    td data-state="pending_double_opt_in" { (counts.pending_double_opt_in) }
                }
                tr { th { "Unsubscribed" } td data-state="unsubscribed" { (counts.unsubscribed) } }
                tr { th { "Never subscribed" } td data-state="never_subscribed" { (counts.never_subscribed) } }
                tr { th { "All contacts" } td data-state="total" { (status.contacts_total) } }
            }
        }
    }
}

fn recent_reminders(status: &Status) -> Markup {
    let recovery = &status.recovery;
    html! {
        h3 { "Recent reminders" }
        @if status.recent_sends.is_empty() {
            p id="recent-reminders" { "No reminders sent yet." }
        } @else {
            table id="recent-reminders" {
                thead {
                    tr {
                        th { "When" } th { "To" } th { "Cart" } th { "Step" } th { "Status" } th { "Clicked" }
                        th { "Recovered" }
                    }
                }
                tbody {
                    @for send in &status.recent_sends {
                        tr {
                            td { (when(send.sent_at.unwrap_or(send.claimed_at))) }
                            td { (send.phone.masked()) }
                            td { (send.cart_id) }
                            td { (send.step) }
                            td { (send_state(send.status)) }
                            td { (send.clicked_at.map(when).unwrap_or_default()) }
                            td {
                                @if let Some(amount) = send.recovered_amount {
                                    (format!("{:.2}", amount.round_dp(2)))
                                    @if let Some(code) = &send.recovered_coupon { " with code " (code) }
                                }
                            }
                        }
                    }
                }
            }
        }
        p id="recovered" {
            "From the last " (RECENT_REMINDERS) " reminders: " (recovery.sent) " sent, " (recovery.clicked)
            " clicked, " (recovery.orders_recovered) " order" (plural(recovery.orders_recovered as u64))
            " recovered, recovered revenue " strong { (format!("{:.2}", recovery.revenue.round_dp(2))) } "."
        }
    }
}

fn send_state(status: SendStatus) -> &'static str {
    match status {
        SendStatus::Claimed => "sending",
        SendStatus::Sent => "sent",
        SendStatus::Delivered => "delivered",
        SendStatus::Failed => "failed",
        SendStatus::Unconfirmed => "unconfirmed (not sent again)",
    }
}

fn recent_decisions(status: &Status) -> Markup {
    html! {
        @if !status.recent_decisions.is_empty() {
            h3 { "Recent consent decisions" }
            table id="recent-decisions" {
                thead { tr { th { "When" } th { "Cart" } th { "Step" } th { "Outcome" } th { "Why" } } }
                tbody {
                    @for decision in &status.recent_decisions {
                        tr {
                            td { (when(decision.decided_at)) }
                            td { (decision.cart_id) }
                            td { (decision.step) }
                            td { (decision.outcome) }
                            td { (decision.explanation) }
                        }
                    }
                }
            }
        }
    }
}

/// The form's fields with what they show and the problems found in them.
struct Fields<'a> {
    values: &'a SettingsForm,
    problems: &'a [SettingsProblem],
}

impl Fields<'_> {
    fn problem(&self, name: &str) -> Option<&SettingsProblem> {
        self.problems.iter().find(|p| p.field == name)
    }

    fn text_input(&self, name: &str, value: &str, label: &str, kind: &str, hint: &str) -> Markup {
        let problem = self.problem(name);
        html! {
            label for=(name) { (label) }
            input type=(kind) id=(name) name=(name) value=(value)
                aria-invalid=[invalid(problem)] aria-describedby=[described_by(problem)];
            @if !hint.is_empty() {
                p class="hint" { (hint) }
            }
            (field_error(problem))
        }
    }

    fn number_input(&self, name: &str, value: &str, label: &str, range: (u32, u32), problem_field: &str) -> Markup {
        let problem = self.problem(problem_field);
        html! {
            div {
                label for=(name) { (label) }
                input type="number" id=(name) name=(name) min=(range.0) max=(range.1) value=(value)
                    aria-invalid=[invalid(problem)] aria-describedby=[described_by(problem)];
                (field_error(problem))
            }
        }
    }

    fn checkbox(&self, name: &str, checked: bool, label: &str) -> Markup {
        let problem = self.problem(name);
        html! {
            label class="inline" for=(name) {
                input type="checkbox" id=(name) name=(name) checked[checked]
                    aria-invalid=[invalid(problem)] aria-describedby=[described_by(problem)];
                " "
                span { (label) }
            }
            (field_error(problem))
        }
    }
}

/// `aria-invalid` of a field with a problem.
fn invalid(problem: Option<&SettingsProblem>) -> Option<&'static str> {
    problem.map(|_| "true")
}

/// `aria-describedby` of a field with a problem: its error line.
fn described_by(problem: Option<&SettingsProblem>) -> Option<String> {
    problem.map(|p| format!("{}-error", p.field))
}

/// The error line under a field.
fn field_error(problem: Option<&SettingsProblem>) -> Markup {
    html! {
        @if let Some(problem) = problem {
            p class="field-error" id={ (problem.field) "-error" } { (problem.message) }
        }
    }
}

/// The settings form: its sections, then Connect and Preview.
fn settings_form(view: &SettingsView<'_>) -> Markup {
    let f = Fields {
        values: view.values,
        problems: view.problems,
    };
    html! {
        form method="post" action="/settings" id="settings-form" {
            (view.hidden_auth())
            input type="hidden" name="based_on_version" value=(view.based_on_version);
            (consent_section(view, &f))
            (messages_section(view, &f))
            (contacts_section(&f))
            (reminders_section(view, &f))
            div class="actions" {
                button type="submit" id="connect" { "Connect" }
                button type="submit" class="secondary" id="preview-button" formaction="/settings/preview" {
                    "Preview checkbox text"
                }
            }
        }
    }
}

/// The three consent options, each with what it needs from the merchant.
fn consent_section(view: &SettingsView<'_>, f: &Fields<'_>) -> Markup {
    let chosen = view.values.consent_option();
    html! {
        section id="consent" {
            h2 { "How customers consent to SMS marketing" }
            p {
                "Only customers and guests who have opted in receive abandoned-cart reminders. Choose how that \
                 consent is obtained. "
                strong {
                    "The correct option depends on your region's regulations, and it is your responsibility to \
                     understand the opt-in requirements for your region."
                }
            }
            (field_error(f.problem("consent_option")))
            @for option in [ConsentOption::SmsCheckbox, ConsentOption::GeneralMarketing, ConsentOption::Inferred] {
                @let value = option_value(option);
                div class="option" {
                    label class="inline" for={ "option-" (value) } {
                        input type="radio" name="consent_option" id={ "option-" (value) } value=(value)
                            checked[chosen == Some(option)];
                        " "
                        span { strong { (option_title(option)) } br; (option_summary(option)) }
                    }
                    (option_details(view, f, option))
                }
            }
        }
    }
}

fn option_summary(option: ConsentOption) -> &'static str {
    match option {
        ConsentOption::SmsCheckbox => {
            "Send SMS to customers that have explicitly opted in to SMS marketing. An unchecked checkbox with the \
             SMS marketing consent terms is added to your checkout."
        }
        ConsentOption::GeneralMarketing => "Send SMS to customers that have opted in to marketing in general.",
        ConsentOption::Inferred => {
            "Send SMS to customers who gave you their phone number, without asking them to opt in to SMS or \
             general marketing."
        }
    }
}

/// What an option needs, shown while it is chosen.
fn option_details(view: &SettingsView<'_>, f: &Fields<'_>, option: ConsentOption) -> Markup {
    let v = f.values;
    match option {
        ConsentOption::SmsCheckbox => html! {
            div class="details only-sms" {
                p class="hint" {
                    "Your Terms of Service and Privacy Policy are mandatory: the consent terms at checkout link to \
                     both."
                }
                (f.text_input("terms_url", &v.terms_url, "Terms of Service URL", "url", ""))
                (f.text_input("privacy_url", &v.privacy_url, "Privacy Policy URL", "url", ""))
                (disclosure_preview(view.values))
            }
        },
        ConsentOption::GeneralMarketing => html! {
            div class="details only-general" {
                p { "First switch on the opt-in in your BigCommerce store:" }
                ol class="steps" {
                    li {
                        "In your BigCommerce control panel, go to "
                        strong { "Settings › General › Miscellaneous" } "."
                    }
                    li { "Under " strong { "Email Settings" } ", tick " strong { "Require Consent" } " and save." }
                }
                p class="hint" {
                    "When you connect, we also check the setting with BigCommerce and refuse to connect while it is \
                     off."
                }
                (f.checkbox(
                    "require_consent_confirmed",
                    v.require_consent_confirmed,"I have switched on Require Consent, so checkout offers customers a marketing opt-in.",
                ))
            }
        },
        ConsentOption::Inferred => html! {
            div class="details only-inferred" {
                div class="notice warning" role="note" {
                    strong { "Important:" }
                    " before choosing inferred consent, confirm that it is compliant with your region's \
                     legislation. Every message carries an opt-out (\"Reply STOP to opt out\"). Inferred consent \
                     never authorises marketing texts to US numbers: they still need express written consent."
                }
                (f.checkbox(
                    "inferred_acknowledged",
                    v.inferred_acknowledged,"I confirm that inferred consent is lawful for SMS marketing in my region.",
                ))
            }
        },
    }
}

/// What every text says: brand, contacts, the texts as they render, and the sender.
fn messages_section(view: &SettingsView<'_>, f: &Fields<'_>) -> Markup {
    let v = f.values;
    html! {
        section id="messages" {
            h2 { "Your messages" }
            (f.text_input(
                "brand_name",
                &v.brand_name,"Brand name",
                "text",
                "Every message starts with it, and the checkout consent terms name it.",
            ))
            (f.text_input(
                "help_contact",
                &v.help_contact,"Help contact",
                "text",
                "An email address, phone number or https link that people who reply HELP are sent to.",
            ))
            (f.text_input(
                "mailing_address",
                &v.mailing_address,"Business mailing address (needed to text Canadian numbers)",
                "text",
                "Every marketing text to Canada must carry your mailing address and a phone, email or web contact \
                 (CASL), and to Australia your contact details (Spam Act): reminders there end with your brand, \
                 this address and the help contact.",
            ))
            (message_preview(view))
            (sender_section(view, f))
        }
    }
}

/// The number or ID texts come from, and whether it is approved for this store.
fn sender_section(view: &SettingsView<'_>, f: &Fields<'_>) -> Markup {
    let v = f.values;
    html! {
        (f.text_input(
            "sender_id",
            &v.sender_id,"Sender number or ID (optional)",
            "text",
            "The number (e.g. +12125550100) or alphanumeric ID (up to 11 characters; not allowed for US numbers) \
             your messages come from. Replies to it reach this store. To get one, ask the app's support: they \
             register it for your store in the SMS account and approve it here. Until it is approved, no reminder \
             is sent from it. Leave it empty to send from the SMS account's shared numbers.",
        ))
        @if let (Some(sender), Some(settings)) = (view.sender, view.in_force) {
            @let sender_id = settings.sender_id.as_deref().unwrap_or_default();
            @let class = if *sender == SenderStatus::NotApproved { "notice error" } else { "hint" };
            p class=(class) id="sender-status" {
                @if !sender_id.is_empty() { "Sender " (sender_id) ": " }
                (sender.explanation())
            }
        }
    }
}

fn contacts_section(f: &Fields<'_>) -> Markup {
    let v = f.values;
    html! {
        section id="contacts" {
            h2 { "Contacts" }
            (f.checkbox(
                "sync_contacts",
                v.sync_contacts,"Sync customers, guests and customer groups from BigCommerce into contacts (now, and as they \
                 change).",
            ))
            (f.text_input(
                "subscriber_group",
                &v.subscriber_group,"Group for subscribers",
                "text",
                "Customers who subscribed to your marketing.",
            ))
            (f.text_input(
                "customer_group",
                &v.customer_group,"Group for customers who have not subscribed",
                "text",
                "Kept apart from subscribers: do not use this group for marketing.",
            ))
        }
    }
}

/// When reminders go out, how many, and the coupon they carry.
fn reminders_section(view: &SettingsView<'_>, f: &Fields<'_>) -> Markup {
    let v = f.values;
    let later_step = (*LATER_STEP_DELAY_HOURS.start(), *LATER_STEP_DELAY_HOURS.end());
    let narrowing = (u32::from(*NARROWING_HOURS.start()), u32::from(*NARROWING_HOURS.end()));
    html! {
        section id="reminders" {
            h2 { "Cart reminders" }
            div class="row" {
                (f.number_input(
                    "first_delay_minutes",
                    &v.first_delay_minutes,"First reminder after (minutes)",
                    (*FIRST_DELAY_MINUTES.start(), *FIRST_DELAY_MINUTES.end()),
                    "first_delay_minutes",
                ))
                (f.number_input(
                    "max_steps",
                    &v.max_steps,"Reminders per cart",
                    (u32::from(*REMINDER_STEPS.start()), u32::from(*REMINDER_STEPS.end())),
                    "max_steps",
                ))
                (f.number_input(
                    "step2_delay_hours",
                    &v.step2_delay_hours,"Second reminder after the first (hours)",
                    later_step,
                    "step2_delay_hours",
                ))
                (f.number_input(
                    "step3_delay_hours",
                    &v.step3_delay_hours,"Third reminder after the first (hours)",
                    later_step,
                    "step3_delay_hours",
                ))
            }
            p class="hint" {
                "US and Canadian numbers always get at most one reminder per cart, within 48 hours (carrier rules)."
            }
            div class="row" {
                (f.number_input(
                    "smart_sending_hours",
                    &v.smart_sending_hours,"Smart sending: at most one marketing text per number every (hours)",
                    (*SMART_SENDING_HOURS.start(), *SMART_SENDING_HOURS.end()),
                    "smart_sending_hours",
                ))
            }
            div class="row" {
                (f.number_input("quiet_start", &v.quiet_start, "Send no earlier than (hour, optional)", narrowing, "quiet_hours"))
                (f.number_input("quiet_end", &v.quiet_end, "Stop sending at (hour, optional)", narrowing, "quiet_hours"))
            }
            p class="hint" {
                "In the recipient's local time. This can only narrow the hours the law allows (e.g. 08:00–21:00 \
                 federally in the US, shorter in some states), never widen them."
            }
            (f.checkbox(
                "us_double_opt_in",
                v.us_double_opt_in,"Before the first cart reminder to a US number, text a double opt-in request and wait for YES \
                 (carrier cart-reminder policy).",
            ))
            (coupon_field(view, f))
        }
    }
}

/// The coupon promotion each reminder gets its own single-use code from (or none).
fn coupon_field(view: &SettingsView<'_>, f: &Fields<'_>) -> Markup {
    let selected = view.values.coupon_promotion_id.as_str();
    let problem = f.problem("coupon_promotion_id");
    let promotions = view.promotions.unwrap_or_default();
    let listed = promotions.iter().any(|p| p.id.to_string() == selected);
    html! {
        label for="coupon_promotion_id" { "Unique coupon code in each reminder" }
        select id="coupon_promotion_id" name="coupon_promotion_id"
            aria-invalid=[invalid(problem)] aria-describedby=[described_by(problem)] {
            option value="" selected[selected.is_empty()] { "No unique codes" }
            @for promotion in promotions {
                @let id = promotion.id.to_string();
                option value=(id) selected[id == selected] { (promotion.name) }
            }
            @if !selected.is_empty() && !listed {
                // Chosen before, and no longer among the enabled coupon promotions (or the list could not be read).
                option value=(selected) selected { "Promotion " (selected) " (not currently enabled)" }
            }
        }
        (field_error(problem))
        @if view.promotions.is_some() {
            p class="hint" {
                "Choose one of your BigCommerce coupon promotions: each reminder then carries its own single-use \
                 code of it (\"Use code … at checkout.\", at " code { "{discount}" } " in the template, else at \
                 the end), created just before it is sent. If a code cannot be created, the reminder goes without \
                 one."
            }
        } @else {
            p class="hint" {
                "Your coupon promotions could not be listed from BigCommerce just now (the app needs the Marketing \
                 scope); reload to try again."
            }
        }
    }
}

/// The texts these settings send, as a typical cart renders them, with their SMS segments and encoding.
fn message_preview(view: &SettingsView<'_>) -> Markup {
    use shared::consent::{Market, content::double_opt_in_request};
    let settings = preview_settings(view);
    let reminders = [
        ("preview-us", "Cart reminder to a US number", Market::Us),
        ("preview-ca", "Cart reminder to a Canadian number", Market::Canada),
        ("preview-au", "Cart reminder to an Australian number", Market::Australia),
    ]
    .map(|(id, title, market)| {
        let text = if market != Market::Us && settings.sender_contact(market).is_none() {
            Err("Not sent until the brand, help contact and (for Canada) the mailing address are given.".to_owned())
        } else {
            shared::recovery::sample_reminder(&settings, market)
                .map(|r| r.body)
                .map_err(|e| format!("Not sent: {e}."))
        };
        (id, title, text)
    });
    html! {
        div class="preview" id="message-preview" {
            p class="hint" { "What your texts look like (a typical cart; Preview to update):" }
            @for (id, title, text) in &reminders {
                (sample_text(id, title, text.as_deref().map_err(String::as_str)))
            }
            (sample_text("preview-doi", "Double opt-in request (US)", Ok(&double_opt_in_request(&settings))))
        }
    }
}

/// One text of the message preview, or why it is not sent.
fn sample_text(id: &str, title: &str, text: Result<&str, &str>) -> Markup {
    html! {
        div id=(id) {
            p { strong { (title) } }
            @match text {
                Ok(text) => {
                    @let count = shared::consent::count_segments(text);
                    pre class="sms" { (text) }
                    p class="hint segments" {
                        (count.segments) " SMS segment" (plural(count.segments as u64)) " · "
                        (count.encoding.describe())
                    }
                }
                Err(why) => p class="muted" { (why) },
            }
        }
    }
}

/// The settings in force (or the defaults) with the fields the form shows for the texts.
fn preview_settings(view: &SettingsView<'_>) -> Settings {
    let values = view.values;
    let mut settings = view.in_force.cloned().unwrap_or_else(|| {
        Settings::defaults(
            shared::model::MerchantUser {
                id: 0,
                email: String::new(),
            },
            "",
            DateTime::UNIX_EPOCH,
        )
    });
    let text = |value: &str| non_empty(value).map(str::to_owned);
    settings.brand_name = values.brand_name.clone();
    settings.help_contact = values.help_contact.clone();
    settings.mailing_address = text(&values.mailing_address);
    settings.terms_url = text(&values.terms_url);
    settings.privacy_url = text(&values.privacy_url);
    settings
}

/// The exact checkbox text shoppers will see, from the consent engine's disclosure builder.
fn disclosure_preview(values: &SettingsForm) -> Markup {
    let built = shared::consent::build_disclosure(&values.brand_name, &values.terms_url, &values.privacy_url);
    let https = shared::model::settings::is_https_url;
    html! {
        div class="preview" id="disclosure-preview" {
            p class="hint" { "What shoppers see at checkout:" }
            @match built {
                Ok(disclosure) if https(&values.terms_url) && https(&values.privacy_url) => {
                    label {
                        input type="checkbox" disabled;
                        " "
                        // The disclosure's HTML is built and escaped by the consent engine.
                        span id="disclosure-text" { (PreEscaped(&disclosure.html)) }
                    }
                    p class="hint" { "The box starts unchecked. Text version " (disclosure.version) "." }
                }
                _ => p class="muted" id="disclosure-missing" {
                    "Enter your brand name and both https URLs to preview the checkbox text."
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::model::MerchantUser;

    fn settings() -> Settings {
        let user = MerchantUser {
            id: 1,
            email: "owner@example.com".into(),
        };
        let mut s = Settings::defaults(user, "Acme <Outfitters>", Utc::now());
        s.terms_url = Some("https://acme.example.com/terms".into());
        s.privacy_url = Some("https://acme.example.com/privacy".into());
        s
    }

    fn render_with(values: &SettingsForm, problems: &[SettingsProblem]) -> String {
        let store = StoreHash::parse("abc123").unwrap();
        render(&SettingsView {
            store_hash: &store,
            user_email: "o\"wner@example.com",
            csrf: "tok",
            session_token: "sealed",
            based_on_version: 0,
            in_force: None,
            values,
            problems,
            notices: &[Notice::error("<b>bad</b>")],
            script_line: None,
            status: None,
            sender: None,
            promotions: Some(&[]),
        })
        .into_string()
    }

    #[test]
    fn values_and_messages_are_escaped() {
        let html = render_with(&SettingsForm::from_settings(&settings()), &[]);
        assert!(html.contains("value=\"Acme &lt;Outfitters&gt;\""));
        assert!(html.contains("o&quot;wner@example.com"));
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"));
        assert!(!html.contains("<Outfitters>"));
        assert!(!html.contains("<b>bad"));
    }

    #[test]
    fn hostile_text_comes_out_escaped_in_the_sections() {
        let hostile = r#"<script>alert(1)</script> & "quoted" 'single'"#;
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quoted&quot; 'single'";
        let mut s = settings();
        s.brand_name = hostile.into();
        s.sender_id = Some(hostile.into());
        let store = StoreHash::parse("abc123").unwrap();
        let values = SettingsForm::from_settings(&s);
        let view = SettingsView {
            store_hash: &store,
            user_email: hostile,
            csrf: hostile,
            session_token: "sealed",
            based_on_version: 0,
            in_force: Some(&s),
            values: &values,
            problems: &[],
            notices: &[],
            script_line: Some(hostile.into()),
            status: None,
            sender: Some(&SenderStatus::NotApproved),
            promotions: Some(&[]),
        };
        let messages = messages_section(
            &view,
            &Fields {
                values: &values,
                problems: &[],
            },
        )
        .into_string();
        assert!(
            messages.contains(&format!("id=\"brand_name\" name=\"brand_name\" value=\"{escaped}\"")),
            "{messages}"
        );
        assert!(
            messages.contains(&format!("Sender {escaped}: Not approved")),
            "{messages}"
        );
        let page = render(&view).into_string();
        assert!(page.contains(&format!("signed in as {escaped}</p>")), "{page}");
        assert!(
            page.contains(&format!("<p id=\"script-status\">{escaped}</p>")),
            "{page}"
        );
        assert!(page.contains(&format!("name=\"csrf\" value=\"{escaped}\"")), "{page}");
        assert!(!page.contains("<script>"), "{page}");
    }

    #[test]
    fn the_preview_shows_the_exact_disclosure() {
        let s = settings();
        let html = render_with(&SettingsForm::from_settings(&s), &[]);
        let disclosure = s.disclosure().unwrap().unwrap();
        assert!(html.contains(&disclosure.html));
        assert!(html.contains(&disclosure.version));
        let mut s = settings();
        s.terms_url = None;
        let html = render_with(&SettingsForm::from_settings(&s), &[]);
        assert!(html.contains("disclosure-missing"));
    }

    #[test]
    fn the_message_preview_shows_each_market_with_segments_and_encoding() {
        let mut s = settings();
        s.brand_name = "Acme".into();
        s.help_contact = "help@acme.example.com".into();
        let html = render_with(&SettingsForm::from_settings(&s), &[]);
        // Canada waits for the mailing address; Australia carries the help contact.
        let canada = &html[html.find("id=\"preview-ca\"").unwrap()..html.find("id=\"preview-au\"").unwrap()];
        assert!(canada.contains("mailing address are given"), "{canada}");
        let australia = &html[html.find("id=\"preview-au\"").unwrap()..html.find("id=\"preview-doi\"").unwrap()];
        assert!(australia.contains("Acme, help@acme.example.com"), "{australia}");
        assert!(australia.contains("2 SMS segments · GSM-7"), "{australia}");
        s.mailing_address = Some("1 Main St, Toronto ON".into());
        let html = render_with(&SettingsForm::from_settings(&s), &[]);
        let canada = &html[html.find("id=\"preview-ca\"").unwrap()..html.find("id=\"preview-au\"").unwrap()];
        assert!(
            canada.contains("Acme, 1 Main St, Toronto ON, help@acme.example.com"),
            "{canada}"
        );
        let doi = &html[html.find("id=\"preview-doi\"").unwrap()..];
        assert!(doi.contains("https://acme.example.com/privacy"), "{doi}");
        assert!(doi.contains("2 SMS segments · GSM-7"), "{doi}");
        // Non-GSM characters switch the encoding.
        s.brand_name = "Acmé Ñandú".into();
        let html = render_with(&SettingsForm::from_settings(&s), &[]);
        assert!(html.contains("UCS-2 (Unicode)"));
    }

    #[test]
    fn problems_are_listed_and_marked_on_their_fields() {
        let problems = [SettingsProblem::new("terms_url", "Terms needed")];
        let html = render_with(&SettingsForm::from_settings(&settings()), &problems);
        assert!(html.contains("<a href=\"#terms_url\">Terms needed</a>"));
        assert!(html.contains("id=\"terms_url\" name=\"terms_url\""));
        assert!(html.contains("aria-describedby=\"terms_url-error\""));
        assert!(html.contains("<p class=\"field-error\" id=\"terms_url-error\">Terms needed</p>"));
    }

    #[test]
    fn the_chosen_option_is_checked() {
        let mut s = settings();
        s.consent_option = ConsentOption::Inferred;
        let html = render_with(&SettingsForm::from_settings(&s), &[]);
        assert!(html.contains("id=\"option-inferred\" value=\"inferred\" checked"));
        assert!(!html.contains("value=\"sms_checkbox\" checked"));
    }

    #[test]
    fn the_outage_notice_accounts_for_every_delayed_reminder() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let report = OutageReport {
            outage: shared::db::ProviderOutage {
                first_failed_at: at("2026-11-25T14:02:00Z"),
                last_failed_at: at("2026-11-25T15:03:00Z"),
                delayed: (0..12).map(|i| (format!("cart-{i}"), 1)).collect(),
            },
            sent: 9,
            not_sent: [
                ("cart_reminder_expired".to_owned(), 1),
                ("quiet_hours_past_expiry".to_owned(), 1),
            ]
            .into(),
            waiting: 1,
        };
        assert_eq!(
            outage_notice(&report),
            "The SMS provider could not be reached between 2026-11-25 14:02 UTC and 2026-11-25 15:03 UTC; 12 \
             reminders were delayed: 9 sent afterwards, 2 not sent (cart reminder expired: 1, quiet hours past \
             expiry: 1), 1 still waiting."
        );
    }
}
