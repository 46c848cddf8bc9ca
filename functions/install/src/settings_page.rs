//! The settings page's HTML: the three consent options as the MessageMedia opt-in seed describes them, the
//! contact, message and reminder settings, the checkout checkbox preview, and (once connected) the status.
//! Pure: data in, escaped HTML out.

use crate::form::{Form, option_value};
use crate::page::Notice;
use crate::status::{OutageReport, RECENT_REMINDERS, Status};
use chrono::{DateTime, Utc};
use shared::StoreHash;
use shared::bigcommerce::Promotion;
use shared::model::settings::{
    FIRST_DELAY_MINUTES, LATER_STEP_DELAY_HOURS, NARROWING_HOURS, REMINDER_STEPS, SMART_SENDING_HOURS, SettingsProblem,
};
use shared::model::{ConsentOption, SendStatus, SenderStatus, Settings, SyncJobStatus};
use shared::web::escape_html;
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
    pub values: &'a Form,
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
    fn hidden_auth(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"session\" value=\"{}\">",
            escape_html(self.csrf),
            escape_html(self.session_token)
        )
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

pub fn render(view: &SettingsView<'_>) -> String {
    let mut html = String::with_capacity(24 * 1024);
    let _ = write!(
        html,
        "<header><h1>{TITLE}</h1><p class=\"who\">Store {} · signed in as {}</p></header>",
        escape_html(view.store_hash.as_str()),
        escape_html(view.user_email)
    );
    for notice in view.notices {
        html.push_str(&notice.html());
    }
    if !view.problems.is_empty() {
        html.push_str(
            "<div class=\"notice error problems\" role=\"alert\" id=\"problems\"><strong>Nothing was saved. Please \
             fix:</strong><ul>",
        );
        for problem in view.problems {
            let _ = write!(
                html,
                "<li><a href=\"#{}\">{}</a></li>",
                field_anchor(problem.field),
                escape_html(&problem.message)
            );
        }
        html.push_str("</ul></div>");
    }
    if let Some(settings) = view.in_force {
        status_section(&mut html, view, settings);
    }
    form_section(&mut html, view);
    if view.in_force.is_some() {
        html.push_str(&crate::test_text::section(&view.hidden_auth()));
    }
    html.push_str(&crate::privacy::section(&view.hidden_auth()));
    html
}

/// The input a problem points at (quiet hours span two inputs).
fn field_anchor(field: &str) -> &str {
    match field {
        "quiet_hours" => "quiet_start",
        other => other,
    }
}

fn status_section(html: &mut String, view: &SettingsView<'_>, settings: &Settings) {
    html.push_str("<section id=\"status\"><h2>Status</h2>");
    let _ = write!(
        html,
        "<p id=\"connected\">Connected with <strong>{}</strong>: settings version {}, saved by {} on {}.</p>",
        option_title(settings.consent_option),
        settings.version,
        escape_html(&settings.saved_by.email),
        when(settings.saved_at)
    );
    if let Some(line) = &view.script_line {
        let _ = write!(html, "<p id=\"script-status\">{}</p>", escape_html(line));
    }
    let Some(status) = view.status else {
        html.push_str("</section>");
        return;
    };
    if let Some(report) = &status.outage {
        let _ = write!(
            html,
            "<div class=\"notice warning\" role=\"status\" id=\"sms-outage\">{}</div>",
            escape_html(&outage_notice(report))
        );
    }

    html.push_str("<h3>Contact sync</h3><div id=\"sync\">");
    match &status.sync_job {
        None if settings.sync_contacts => html.push_str("<p>No sync has run yet.</p>"),
        None => html.push_str("<p>Contact sync is off.</p>"),
        Some(job) => {
            let state = match job.status {
                SyncJobStatus::Running => "Running",
                SyncJobStatus::Completed => "Completed",
                SyncJobStatus::CompletedWithFailures => "Completed with failed pages",
            };
            let _ = write!(
                html,
                "<p><strong>{state}</strong> · started {}</p>\
                 <progress id=\"sync-progress\" max=\"100\" value=\"{percent}\">{percent}%</progress>\
                 <p>{percent}% · {} of {} pages done{} · {} contacts imported · {} skipped without a phone · {} \
                 skipped with an invalid phone</p>",
                when(job.started_at),
                job.pages_done,
                if job.total_pages == 0 {
                    "?".to_owned()
                } else {
                    job.total_pages.to_string()
                },
                if job.pages_failed > 0 {
                    format!(", {} failed", job.pages_failed)
                } else {
                    String::new()
                },
                job.contacts_imported,
                job.skipped_no_phone,
                job.skipped_invalid_phone,
                percent = job.percent_done(),
            );
            if job.skipped_malformed > 0 {
                let ids: Vec<String> = job.skipped_customers.iter().map(u64::to_string).collect();
                let more = job.skipped_malformed.saturating_sub(ids.len() as u64);
                let _ = write!(
                    html,
                    "<p id=\"skipped-customers\">{} customer record{} could not be read and {} skipped \
                     (customer ID{}: {}{}).</p>",
                    job.skipped_malformed,
                    if job.skipped_malformed == 1 { "" } else { "s" },
                    if job.skipped_malformed == 1 { "was" } else { "were" },
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    },
                );
            }
        }
    }
    if !status.failed_pages.is_empty() {
        let _ = write!(
            html,
            "<form method=\"post\" action=\"/settings/retry-failed-pages\">{}<button type=\"submit\" \
             class=\"secondary\" id=\"retry-failed-pages\">Retry {} failed page{}</button></form>",
            view.hidden_auth(),
            status.failed_pages.len(),
            if status.failed_pages.len() == 1 { "" } else { "s" }
        );
    }
    let running = status
        .sync_job
        .as_ref()
        .is_some_and(|j| j.status == SyncJobStatus::Running);
    if running {
        let _ = write!(
            html,
            "<form method=\"post\" action=\"/settings/refresh\">{}<button type=\"submit\" class=\"secondary\" \
             id=\"refresh\">Refresh progress</button></form>",
            view.hidden_auth()
        );
    }
    if settings.sync_contacts && !running {
        let _ = write!(
            html,
            "<form method=\"post\" action=\"/settings/sync\">{}<button type=\"submit\" class=\"secondary\" \
             id=\"sync-now\">Sync contacts now</button></form>",
            view.hidden_auth()
        );
    }
    html.push_str("</div>");

    crate::glance::section(html, status);

    let counts = status.consent_counts;
    let _ = write!(
        html,
        "<h3>Contacts by consent</h3><table class=\"counts\" id=\"consent-counts\"><tbody>\
         <tr><th>Subscribed</th><td data-state=\"subscribed\">{}</td></tr>\
         <tr><th>&hellip; of whom gave express consent for texts (checkbox, keyword or double opt-in)</th>\
         <td data-state=\"subscribed_sms_express\">{}</td></tr>\
         <tr><th>Waiting for a double opt-in reply</th><td data-state=\"pending_double_opt_in\">{}</td></tr>\
         <tr><th>Unsubscribed</th><td data-state=\"unsubscribed\">{}</td></tr>\
         <tr><th>Never subscribed</th><td data-state=\"never_subscribed\">{}</td></tr>\
         <tr><th>All contacts</th><td data-state=\"total\">{}</td></tr></tbody></table>",
        counts.subscribed,
        counts.subscribed_sms_express,
        counts.pending_double_opt_in,
        counts.unsubscribed,
        counts.never_subscribed,
        status.contacts_total
    );

    html.push_str("<h3>Recent reminders</h3>");
    if status.recent_sends.is_empty() {
        html.push_str("<p id=\"recent-reminders\">No reminders sent yet.</p>");
    } else {
        html.push_str(
            "<table id=\"recent-reminders\"><thead><tr><th>When</th><th>To</th><th>Cart</th><th>Step</th>\
             <th>Status</th><th>Clicked</th><th>Recovered</th></tr></thead><tbody>",
        );
        for send in &status.recent_sends {
            let state = match send.status {
                SendStatus::Claimed => "sending",
                SendStatus::Sent => "sent",
                SendStatus::Delivered => "delivered",
                SendStatus::Failed => "failed",
                SendStatus::Unconfirmed => "unconfirmed (not sent again)",
            };
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td>{}</td><td>{}</td></tr>",
                when(send.sent_at.unwrap_or(send.claimed_at)),
                escape_html(&send.phone.masked()),
                escape_html(&send.cart_id),
                send.step,
                send.clicked_at.map(when).unwrap_or_default(),
                send.recovered_amount
                    .map(|amount| {
                        let coupon = send
                            .recovered_coupon
                            .as_deref()
                            .map(|code| format!(" with code {}", escape_html(code)))
                            .unwrap_or_default();
                        format!("{:.2}{coupon}", amount.round_dp(2))
                    })
                    .unwrap_or_default(),
            );
        }
        html.push_str("</tbody></table>");
    }
    let recovery = &status.recovery;
    let _ = write!(
        html,
        "<p id=\"recovered\">From the last {RECENT_REMINDERS} reminders: {} sent, {} clicked, {} order{} recovered, \
         recovered revenue <strong>{:.2}</strong>.</p>",
        recovery.sent,
        recovery.clicked,
        recovery.orders_recovered,
        if recovery.orders_recovered == 1 { "" } else { "s" },
        recovery.revenue.round_dp(2),
    );
    if !status.recent_decisions.is_empty() {
        html.push_str(
            "<h3>Recent consent decisions</h3><table id=\"recent-decisions\"><thead><tr><th>When</th><th>Cart</th>\
             <th>Step</th><th>Outcome</th><th>Why</th></tr></thead><tbody>",
        );
        for decision in &status.recent_decisions {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                when(decision.decided_at),
                escape_html(&decision.cart_id),
                decision.step,
                escape_html(&decision.outcome),
                escape_html(&decision.explanation)
            );
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</section>");
}

struct Fields<'a> {
    values: &'a Form,
    problems: &'a [SettingsProblem],
}

impl Fields<'_> {
    fn value(&self, name: &str) -> String {
        escape_html(self.values.get(name).unwrap_or_default())
    }

    fn checked(&self, name: &str) -> &'static str {
        if self.values.checked(name) { " checked" } else { "" }
    }

    fn problem(&self, name: &str) -> Option<&SettingsProblem> {
        self.problems.iter().find(|p| p.field == name)
    }

    /// `aria-invalid` and the error line under a field.
    fn error(&self, name: &str) -> (String, String) {
        match self.problem(name) {
            Some(problem) => (
                format!(" aria-invalid=\"true\" aria-describedby=\"{}-error\"", problem.field),
                format!(
                    "<p class=\"field-error\" id=\"{}-error\">{}</p>",
                    problem.field,
                    escape_html(&problem.message)
                ),
            ),
            None => (String::new(), String::new()),
        }
    }

    fn text_input(&self, html: &mut String, name: &str, label: &str, kind: &str, hint: &str) {
        let (invalid, error) = self.error(name);
        let _ = write!(
            html,
            "<label for=\"{name}\">{label}</label><input type=\"{kind}\" id=\"{name}\" name=\"{name}\" value=\"{}\"{invalid}>{}{error}",
            self.value(name),
            if hint.is_empty() {
                String::new()
            } else {
                format!("<p class=\"hint\">{hint}</p>")
            }
        );
    }

    fn number_input(&self, html: &mut String, name: &str, label: &str, range: (u32, u32), problem_field: &str) {
        let (invalid, error) = self.error(problem_field);
        let _ = write!(
            html,
            "<div><label for=\"{name}\">{label}</label><input type=\"number\" id=\"{name}\" name=\"{name}\" \
             min=\"{}\" max=\"{}\" value=\"{}\"{invalid}>{error}</div>",
            range.0,
            range.1,
            self.value(name)
        );
    }

    fn checkbox(&self, html: &mut String, name: &str, label: &str) {
        let (invalid, error) = self.error(name);
        let _ = write!(
            html,
            "<label class=\"inline\" for=\"{name}\"><input type=\"checkbox\" id=\"{name}\" name=\"{name}\"{}{invalid}> \
             <span>{label}</span></label>{error}",
            self.checked(name)
        );
    }
}

fn form_section(html: &mut String, view: &SettingsView<'_>) {
    let f = Fields {
        values: view.values,
        problems: view.problems,
    };
    let chosen = view.values.consent_option();
    let _ = write!(
        html,
        "<form method=\"post\" action=\"/settings\" id=\"settings-form\">{}<input type=\"hidden\" \
         name=\"based_on_version\" value=\"{}\">",
        view.hidden_auth(),
        view.based_on_version
    );

    html.push_str(
        "<section id=\"consent\"><h2>How customers consent to SMS marketing</h2><p>Only customers and guests who \
         have opted in receive abandoned-cart reminders. Choose how that consent is obtained. <strong>The correct \
         option depends on your region's regulations, and it is your responsibility to understand the opt-in \
         requirements for your region.</strong></p>",
    );
    let (_, option_error) = f.error("consent_option");
    html.push_str(&option_error);
    for option in [
        ConsentOption::SmsCheckbox,
        ConsentOption::GeneralMarketing,
        ConsentOption::Inferred,
    ] {
        let value = option_value(option);
        let _ = write!(
            html,
            "<div class=\"option\"><label class=\"inline\" for=\"option-{value}\"><input type=\"radio\" \
             name=\"consent_option\" id=\"option-{value}\" value=\"{value}\"{}> <span><strong>{}</strong><br>",
            if chosen == Some(option) { " checked" } else { "" },
            option_title(option)
        );
        match option {
            ConsentOption::SmsCheckbox => {
                html.push_str(
                    "Send SMS to customers that have explicitly opted in to SMS marketing. An unchecked checkbox \
                     with the SMS marketing consent terms is added to your checkout.</span></label>\
                     <div class=\"details only-sms\"><p class=\"hint\">Your Terms of Service and Privacy Policy are \
                     mandatory: the consent terms at checkout link to both.</p>",
                );
                f.text_input(html, "terms_url", "Terms of Service URL", "url", "");
                f.text_input(html, "privacy_url", "Privacy Policy URL", "url", "");
                preview(html, view.values);
                html.push_str("</div>");
            }
            ConsentOption::GeneralMarketing => {
                html.push_str(
                    "Send SMS to customers that have opted in to marketing in general.</span></label>\
                     <div class=\"details only-general\"><p>First switch on the opt-in in your BigCommerce store:</p>\
                     <ol class=\"steps\"><li>In your BigCommerce control panel, go to <strong>Settings › General › \
                     Miscellaneous</strong>.</li><li>Under <strong>Email Settings</strong>, tick <strong>Require \
                     Consent</strong> and save.</li></ol><p class=\"hint\">When you connect, we also check the setting \
                     with BigCommerce and refuse to connect while it is off.</p>",
                );
                f.checkbox(
                    html,
                    "require_consent_confirmed",
                    "I have switched on Require Consent, so checkout offers customers a marketing opt-in.",
                );
                html.push_str("</div>");
            }
            ConsentOption::Inferred => {
                html.push_str(
                    "Send SMS to customers who gave you their phone number, without asking them to opt in to SMS \
                     or general marketing.</span></label><div class=\"details only-inferred\"><div class=\"notice \
                     warning\" role=\"note\"><strong>Important:</strong> before choosing inferred consent, confirm \
                     that it is compliant with your region's legislation. Every message carries an opt-out (\"Reply \
                     STOP to opt out\"). Inferred consent never authorises marketing texts to US numbers: they \
                     still need express written consent.</div>",
                );
                f.checkbox(
                    html,
                    "inferred_acknowledged",
                    "I confirm that inferred consent is lawful for SMS marketing in my region.",
                );
                html.push_str("</div>");
            }
        }
        html.push_str("</div>");
    }
    html.push_str("</section>");

    html.push_str("<section id=\"messages\"><h2>Your messages</h2>");
    f.text_input(
        html,
        "brand_name",
        "Brand name",
        "text",
        "Every message starts with it, and the checkout consent terms name it.",
    );
    f.text_input(
        html,
        "help_contact",
        "Help contact",
        "text",
        "An email address, phone number or https link that people who reply HELP are sent to.",
    );
    f.text_input(
        html,
        "mailing_address",
        "Business mailing address (needed to text Canadian numbers)",
        "text",
        "Every marketing text to Canada must carry your mailing address and a phone, email or web contact \
         (CASL), and to Australia your contact details (Spam Act): reminders there end with your brand, this \
         address and the help contact.",
    );
    message_preview(html, view);
    f.text_input(
        html,
        "sender_id",
        "Sender number or ID (optional)",
        "text",
        "The number (e.g. +12125550100) or alphanumeric ID (up to 11 characters; not allowed for US numbers) your \
         messages come from. Replies to it reach this store. To get one, ask the app's support: they register it \
         for your store in the SMS account and approve it here. Until it is approved, no reminder is sent from it. \
         Leave it empty to send from the SMS account's shared numbers.",
    );
    if let (Some(sender), Some(settings)) = (view.sender, view.in_force) {
        let (class, sender_id) = match sender {
            SenderStatus::NotApproved => ("notice error", settings.sender_id.as_deref().unwrap_or_default()),
            _ => ("hint", settings.sender_id.as_deref().unwrap_or_default()),
        };
        let label = if sender_id.is_empty() {
            String::new()
        } else {
            format!("Sender {}: ", escape_html(sender_id))
        };
        let _ = write!(
            html,
            "<p class=\"{class}\" id=\"sender-status\">{label}{}</p>",
            sender.explanation()
        );
    }
    html.push_str("</section>");

    html.push_str("<section id=\"contacts\"><h2>Contacts</h2>");
    f.checkbox(
        html,
        "sync_contacts",
        "Sync customers, guests and customer groups from BigCommerce into contacts (now, and as they change).",
    );
    f.text_input(
        html,
        "subscriber_group",
        "Group for subscribers",
        "text",
        "Customers who subscribed to your marketing.",
    );
    f.text_input(
        html,
        "customer_group",
        "Group for customers who have not subscribed",
        "text",
        "Kept apart from subscribers: do not use this group for marketing.",
    );
    html.push_str("</section>");

    html.push_str("<section id=\"reminders\"><h2>Cart reminders</h2><div class=\"row\">");
    f.number_input(
        html,
        "first_delay_minutes",
        "First reminder after (minutes)",
        (*FIRST_DELAY_MINUTES.start(), *FIRST_DELAY_MINUTES.end()),
        "first_delay_minutes",
    );
    f.number_input(
        html,
        "max_steps",
        "Reminders per cart",
        (u32::from(*REMINDER_STEPS.start()), u32::from(*REMINDER_STEPS.end())),
        "max_steps",
    );
    f.number_input(
        html,
        "step2_delay_hours",
        "Second reminder after the first (hours)",
        (*LATER_STEP_DELAY_HOURS.start(), *LATER_STEP_DELAY_HOURS.end()),
        "step2_delay_hours",
    );
    f.number_input(
        html,
        "step3_delay_hours",
        "Third reminder after the first (hours)",
        (*LATER_STEP_DELAY_HOURS.start(), *LATER_STEP_DELAY_HOURS.end()),
        "step3_delay_hours",
    );
    html.push_str(
        "</div><p class=\"hint\">US and Canadian numbers always get at most one reminder per cart, within 48 hours \
         (carrier rules).</p><div class=\"row\">",
    );
    f.number_input(
        html,
        "smart_sending_hours",
        "Smart sending: at most one marketing text per number every (hours)",
        (*SMART_SENDING_HOURS.start(), *SMART_SENDING_HOURS.end()),
        "smart_sending_hours",
    );
    html.push_str("</div><div class=\"row\">");
    let narrowing = (u32::from(*NARROWING_HOURS.start()), u32::from(*NARROWING_HOURS.end()));
    f.number_input(
        html,
        "quiet_start",
        "Send no earlier than (hour, optional)",
        narrowing,
        "quiet_hours",
    );
    f.number_input(
        html,
        "quiet_end",
        "Stop sending at (hour, optional)",
        narrowing,
        "quiet_hours",
    );
    html.push_str(
        "</div><p class=\"hint\">In the recipient's local time. This can only narrow the hours the law allows (e.g. \
         08:00–21:00 federally in the US, shorter in some states), never widen them.</p>",
    );
    f.checkbox(
        html,
        "us_double_opt_in",
        "Before the first cart reminder to a US number, text a double opt-in request and wait for YES (carrier \
         cart-reminder policy).",
    );
    coupon_field(html, view);
    html.push_str("</section>");

    html.push_str(
        "<div class=\"actions\"><button type=\"submit\" id=\"connect\">Connect</button>\
         <button type=\"submit\" class=\"secondary\" id=\"preview-button\" formaction=\"/settings/preview\">Preview \
         checkbox text</button></div></form>",
    );
}

/// The coupon promotion each reminder gets its own single-use code from (or none).
fn coupon_field(html: &mut String, view: &SettingsView<'_>) {
    let selected = view.values.get("coupon_promotion_id").unwrap_or_default();
    let problem = view.problems.iter().find(|p| p.field == "coupon_promotion_id");
    let invalid = if problem.is_some() {
        " aria-invalid=\"true\" aria-describedby=\"coupon_promotion_id-error\""
    } else {
        ""
    };
    let _ = write!(
        html,
        "<label for=\"coupon_promotion_id\">Unique coupon code in each reminder</label>\
         <select id=\"coupon_promotion_id\" name=\"coupon_promotion_id\"{invalid}>\
         <option value=\"\"{}>No unique codes</option>",
        if selected.is_empty() { " selected" } else { "" }
    );
    let promotions = view.promotions.unwrap_or_default();
    let mut listed = false;
    for promotion in promotions {
        let id = promotion.id.to_string();
        listed |= id == selected;
        let _ = write!(
            html,
            "<option value=\"{id}\"{}>{}</option>",
            if id == selected { " selected" } else { "" },
            escape_html(&promotion.name)
        );
    }
    if !selected.is_empty() && !listed {
        // Chosen before, and no longer among the enabled coupon promotions (or the list could not be read).
        let _ = write!(
            html,
            "<option value=\"{0}\" selected>Promotion {0} (not currently enabled)</option>",
            escape_html(selected)
        );
    }
    html.push_str("</select>");
    if let Some(problem) = problem {
        let _ = write!(
            html,
            "<p class=\"field-error\" id=\"coupon_promotion_id-error\">{}</p>",
            escape_html(&problem.message)
        );
    }
    html.push_str(if view.promotions.is_some() {
        "<p class=\"hint\">Choose one of your BigCommerce coupon promotions: each reminder then carries its own \
         single-use code of it (\"Use code … at checkout.\", at <code>{discount}</code> in the template, else at the \
         end), created just before it is sent. If a code cannot be created, the reminder goes without one.</p>"
    } else {
        "<p class=\"hint\">Your coupon promotions could not be listed from BigCommerce just now (the app needs the \
         Marketing scope); reload to try again.</p>"
    });
}

/// The texts these settings send, as a typical cart renders them, with their SMS segments and encoding.
fn message_preview(html: &mut String, view: &SettingsView<'_>) {
    use shared::consent::{Market, content::double_opt_in_request, count_segments};
    let settings = preview_settings(view);
    html.push_str(
        "<div class=\"preview\" id=\"message-preview\"><p class=\"hint\">What your texts look like (a typical \
         cart; Preview to update):</p>",
    );
    let mut row = |id: &str, title: &str, text: Result<String, String>| {
        let _ = write!(html, "<div id=\"{id}\"><p><strong>{title}</strong></p>");
        match text {
            Ok(text) => {
                let count = count_segments(&text);
                let _ = write!(
                    html,
                    "<pre class=\"sms\">{}</pre><p class=\"hint segments\">{} SMS segment{} · {}</p>",
                    escape_html(&text),
                    count.segments,
                    if count.segments == 1 { "" } else { "s" },
                    count.encoding.describe()
                );
            }
            Err(why) => {
                let _ = write!(html, "<p class=\"muted\">{}</p>", escape_html(&why));
            }
        }
        html.push_str("</div>");
    };
    for (id, title, market) in [
        ("preview-us", "Cart reminder to a US number", Market::Us),
        ("preview-ca", "Cart reminder to a Canadian number", Market::Canada),
        ("preview-au", "Cart reminder to an Australian number", Market::Australia),
    ] {
        let text = if market != Market::Us && settings.sender_contact(market).is_none() {
            Err("Not sent until the brand, help contact and (for Canada) the mailing address are given.".to_owned())
        } else {
            shared::recovery::sample_reminder(&settings, market)
                .map(|r| r.body)
                .map_err(|e| format!("Not sent: {e}."))
        };
        row(id, title, text);
    }
    row(
        "preview-doi",
        "Double opt-in request (US)",
        Ok(double_opt_in_request(&settings)),
    );
    html.push_str("</div>");
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
    let text = |name: &str| values.text(name).map(str::to_owned);
    settings.brand_name = values.get("brand_name").unwrap_or_default().to_owned();
    settings.help_contact = values.get("help_contact").unwrap_or_default().to_owned();
    settings.mailing_address = text("mailing_address");
    settings.terms_url = text("terms_url");
    settings.privacy_url = text("privacy_url");
    settings
}

/// The exact checkbox text shoppers will see, from the consent engine's disclosure builder.
fn preview(html: &mut String, values: &Form) {
    let built = shared::consent::build_disclosure(
        values.get("brand_name").unwrap_or_default(),
        values.get("terms_url").unwrap_or_default(),
        values.get("privacy_url").unwrap_or_default(),
    );
    html.push_str(
        "<div class=\"preview\" id=\"disclosure-preview\"><p class=\"hint\">What shoppers see at checkout:</p>",
    );
    match built {
        Ok(disclosure)
            if values
                .get("terms_url")
                .is_some_and(shared::model::settings::is_https_url)
                && values
                    .get("privacy_url")
                    .is_some_and(shared::model::settings::is_https_url) =>
        {
            let _ = write!(
                html,
                "<label><input type=\"checkbox\" disabled> <span id=\"disclosure-text\">{}</span></label>\
                 <p class=\"hint\">The box starts unchecked. Text version {}.</p>",
                disclosure.html,
                escape_html(&disclosure.version)
            );
        }
        _ => html.push_str(
            "<p class=\"muted\" id=\"disclosure-missing\">Enter your brand name and both https URLs to preview the \
             checkbox text.</p>",
        ),
    }
    html.push_str("</div>");
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

    fn render_with(values: &Form, problems: &[SettingsProblem]) -> String {
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
    }

    #[test]
    fn values_and_messages_are_escaped() {
        let html = render_with(&Form::from_settings(&settings()), &[]);
        assert!(html.contains("value=\"Acme &lt;Outfitters&gt;\""));
        assert!(html.contains("o&quot;wner@example.com"));
        assert!(html.contains("&lt;b&gt;bad&lt;/b&gt;"));
        assert!(!html.contains("<Outfitters>"));
        assert!(!html.contains("<b>bad"));
    }

    #[test]
    fn the_preview_shows_the_exact_disclosure() {
        let s = settings();
        let html = render_with(&Form::from_settings(&s), &[]);
        let disclosure = s.disclosure().unwrap().unwrap();
        assert!(html.contains(&disclosure.html));
        assert!(html.contains(&disclosure.version));
        let mut s = settings();
        s.terms_url = None;
        let html = render_with(&Form::from_settings(&s), &[]);
        assert!(html.contains("disclosure-missing"));
    }

    #[test]
    fn the_message_preview_shows_each_market_with_segments_and_encoding() {
        let mut s = settings();
        s.brand_name = "Acme".into();
        s.help_contact = "help@acme.example.com".into();
        let html = render_with(&Form::from_settings(&s), &[]);
        // Canada waits for the mailing address; Australia carries the help contact.
        let canada = &html[html.find("id=\"preview-ca\"").unwrap()..html.find("id=\"preview-au\"").unwrap()];
        assert!(canada.contains("mailing address are given"), "{canada}");
        let australia = &html[html.find("id=\"preview-au\"").unwrap()..html.find("id=\"preview-doi\"").unwrap()];
        assert!(australia.contains("Acme, help@acme.example.com"), "{australia}");
        assert!(australia.contains("2 SMS segments · GSM-7"), "{australia}");
        s.mailing_address = Some("1 Main St, Toronto ON".into());
        let html = render_with(&Form::from_settings(&s), &[]);
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
        let html = render_with(&Form::from_settings(&s), &[]);
        assert!(html.contains("UCS-2 (Unicode)"));
    }

    #[test]
    fn problems_are_listed_and_marked_on_their_fields() {
        let problems = [SettingsProblem::new("terms_url", "Terms needed")];
        let html = render_with(&Form::from_settings(&settings()), &problems);
        assert!(html.contains("<a href=\"#terms_url\">Terms needed</a>"));
        assert!(html.contains("id=\"terms_url\" name=\"terms_url\""));
        assert!(html.contains("aria-describedby=\"terms_url-error\""));
        assert!(html.contains("<p class=\"field-error\" id=\"terms_url-error\">Terms needed</p>"));
    }

    #[test]
    fn the_chosen_option_is_checked() {
        let mut s = settings();
        s.consent_option = ConsentOption::Inferred;
        let html = render_with(&Form::from_settings(&s), &[]);
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
