//! The settings page: show it (repairing the store's webhooks and checkout script on the way), save a new
//! settings version on "Connect", and the page's actions (preview the checkbox text, sync now, retry failed
//! sync pages). Every request needs a live session; every post needs its CSRF token.

use crate::form::{self, SettingsForm, settings_from_form};
use crate::hooks::{HookChanges, ensure_hooks};
use crate::page::{self, Notice};
use crate::script::{ScriptChange, ensure_script, remove_script};
use crate::session::{self, Session, SessionError, SessionKeys};
use crate::settings_page::{SettingsView, TITLE, render};
use crate::{Deps, InstallError, status};
use chrono::{DateTime, Duration, Utc};
use http::StatusCode;
use lambda_http::Request;
use shared::bigcommerce::StoreClient;
use shared::messages::SyncMessage;
use shared::model::settings::SettingsProblem;
use shared::model::sync_job::CUSTOMERS_PER_PAGE;
use shared::model::{ConsentOption, MerchantUser, Settings, Store, SyncJob, SyncJobStatus};
use shared::web::WebResponse;
use tracing::Instrument;

/// A running sync younger than this is not started again by "Sync contacts now".
const SYNC_RESTART_AFTER_HOURS: i64 = 1;

fn keys(deps: &Deps) -> SessionKeys {
    SessionKeys::derive(&deps.bigcommerce_config.client_secret)
}

/// Where the page is opened from: after an install a missing script is expected (uninstalling removed it),
/// later it means the merchant deleted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Install,
    Load,
}

/// Starts a session for `user` and shows the settings page (after `/auth` and `/load`).
pub async fn open(
    deps: &Deps,
    store: &Store,
    user: &MerchantUser,
    notices: Vec<Notice>,
    opened: Opened,
) -> Result<WebResponse, InstallError> {
    let keys = keys(deps);
    let session = Session::start(store.store_hash.clone(), user, deps.clock.now());
    let response = page_after_repair(deps, store, &session, &keys, notices, opened).await?;
    Ok(page::with_cookie(response, &session::set_cookie(&keys.seal(&session))))
}

/// The session behind a sealed value: signed, unexpired, for an installed store, by a user who still has
/// access, issued under the store's current installation and after the user's last removal.
async fn authenticate(deps: &Deps, sealed: Option<&str>) -> Result<(Session, Store), InstallError> {
    let session = keys(deps).open(sealed.ok_or(SessionError::Missing)?, deps.clock.now())?;
    let store = deps
        .aws
        .db
        .get_store(&session.store_hash)
        .await?
        .filter(Store::is_installed)
        .ok_or(SessionError::Revoked)?;
    let access = deps
        .aws
        .db
        .user_access(&store.store_hash, session.user_id)
        .await?
        .filter(|access| !access.removed)
        .ok_or(SessionError::Revoked)?;
    if session.outlived(store.installed_at, access.removed_at) {
        return Err(SessionError::Revoked.into());
    }
    Ok((session, store))
}

/// The fields that authenticate every post.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Signed {
    session: String,
    csrf: String,
}

/// A post: the form (size-limited), the session, then the session's CSRF token, before anything else happens.
/// The session is the one the page was rendered with (its forms carry it: browsers that block third-party
/// cookies drop the cookie in the iframe, and two stores open in two tabs may overwrite each other's cookie),
/// else the cookie. Only our own page can carry a session in a form: another site can neither read nor sign one.
/// The caller then reads its own fields from the same body ([`form::read`]).
async fn authenticate_post(deps: &Deps, request: &Request) -> Result<(Session, Store), InstallError> {
    let signed: Signed = form::read(request.body())?;
    let sealed = Some(signed.session.as_str())
        .filter(|s| !s.is_empty())
        .or_else(|| session::cookie_value(request.headers()));
    let (session, store) = authenticate(deps, sealed).await?;
    if !keys(deps).csrf_matches(&session, &signed.csrf) {
        tracing::warn!(store_hash = %store.store_hash, "form refused: CSRF token missing or wrong");
        return Err(InstallError::Csrf);
    }
    Ok((session, store))
}

/// `GET /settings`.
pub async fn show(deps: &Deps, request: &Request) -> Result<WebResponse, InstallError> {
    let (session, store) = authenticate(deps, session::cookie_value(request.headers())).await?;
    page_after_repair(deps, &store, &session, &keys(deps), Vec::new(), Opened::Load)
        .instrument(shared::logging::store_span(&store.store_hash))
        .await
}

/// The settings in force (`None` before the first Connect).
async fn in_force(deps: &Deps, store: &Store) -> Result<Option<Settings>, InstallError> {
    Ok(match store.settings_version {
        0 => None,
        version => deps.aws.db.settings_version(&store.store_hash, version).await?,
    })
}

/// What a store starts from before its first Connect: the defaults, named after the store.
async fn defaults(deps: &Deps, client: &StoreClient, user: MerchantUser) -> Settings {
    let brand = match client.store_information().await {
        Ok(info) => info.name,
        Err(error) => {
            tracing::warn!(%error, "store information unavailable; the brand name starts empty");
            String::new()
        }
    };
    Settings::defaults(user, &brand, deps.clock.now())
}

/// Repairs the store's webhooks and checkout script, then shows the page.
async fn page_after_repair(
    deps: &Deps,
    store: &Store,
    session: &Session,
    keys: &SessionKeys,
    mut notices: Vec<Notice>,
    opened: Opened,
) -> Result<WebResponse, InstallError> {
    let client = deps.bigcommerce.store_client(store).await?;
    match ensure_hooks(&client, &deps.app_url, &store.webhook_secret).await {
        Ok(changes) if changes.any() => {
            tracing::info!(?changes, "webhooks repaired");
            notices.push(Notice::success(describe_hooks(changes)));
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, "webhooks could not be checked");
            notices.push(Notice::warning(format!(
                "The store's webhooks could not be checked ({error}). Contacts and carts may not update until \
                 the app is opened again."
            )));
        }
    }
    let settings = in_force(deps, store).await?;
    let script_line = match &settings {
        Some(settings) => Some(sync_script(deps, &client, store, settings, &mut notices, opened == Opened::Load).await),
        None => None,
    };
    let values = match &settings {
        Some(settings) => SettingsForm::from_settings(settings),
        None => SettingsForm::from_settings(&defaults(deps, &client, session.user()).await),
    };
    let page = Page {
        store,
        session,
        keys,
        settings: settings.as_ref(),
        values: &values,
        problems: &[],
        notices: &notices,
        script_line,
    };
    page.respond(deps, StatusCode::OK).await
}

fn describe_hooks(changes: HookChanges) -> String {
    let parts: Vec<String> = [
        (changes.created, "registered"),
        (changes.reactivated, "re-enabled"),
        (changes.repaired, "repaired"),
        (changes.removed, "duplicates removed"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    format!("Store event webhooks: {}.", parts.join(", "))
}

/// Installs, updates or removes the checkout script to match the settings; returns the status line.
async fn sync_script(
    deps: &Deps,
    client: &StoreClient,
    store: &Store,
    settings: &Settings,
    notices: &mut Vec<Notice>,
    repairing: bool,
) -> String {
    let result = if settings.consent_option == ConsentOption::SmsCheckbox {
        ensure_script(client, &deps.app_url, &store.store_hash).await
    } else {
        remove_script(client, &deps.app_url).await
    };
    match result {
        Ok(change) => {
            if change != ScriptChange::Unchanged && change != ScriptChange::Absent {
                tracing::info!(?change, "checkout script changed");
            }
            match change {
                ScriptChange::Installed if repairing => {
                    notices.push(Notice::warning(
                        "The checkout consent checkbox was missing (deleted in Script Manager?) and has been \
                         reinstalled.",
                    ));
                    "Checkout consent checkbox: reinstalled just now.".into()
                }
                ScriptChange::Installed => "Checkout consent checkbox: installed.".into(),
                ScriptChange::Updated => "Checkout consent checkbox: updated to the current version.".into(),
                ScriptChange::Unchanged => "Checkout consent checkbox: installed.".into(),
                ScriptChange::Removed => "Checkout consent checkbox: removed (this option does not use it).".into(),
                ScriptChange::Absent => "Checkout consent checkbox: not used by this option.".into(),
            }
        }
        Err(error) => {
            tracing::warn!(%error, "checkout script could not be synchronised");
            notices.push(Notice::warning(format!(
                "The checkout consent checkbox could not be {} ({error}). Reload the app to try again.",
                if settings.consent_option == ConsentOption::SmsCheckbox {
                    "installed or checked"
                } else {
                    "removed"
                }
            )));
            "Checkout consent checkbox: could not be checked.".into()
        }
    }
}

/// The form as posted, refused, with why.
struct Rejected<'a> {
    store: &'a Store,
    session: &'a Session,
    keys: &'a SessionKeys,
    settings: Option<&'a Settings>,
    values: &'a SettingsForm,
    problems: Vec<SettingsProblem>,
    notices: Vec<Notice>,
    code: StatusCode,
}

impl Rejected<'_> {
    async fn respond(self, deps: &Deps) -> Result<WebResponse, InstallError> {
        Page {
            store: self.store,
            session: self.session,
            keys: self.keys,
            settings: self.settings,
            values: self.values,
            problems: &self.problems,
            notices: &self.notices,
            script_line: None,
        }
        .respond(deps, self.code)
        .await
    }
}

/// One rendering of the page.
struct Page<'a> {
    store: &'a Store,
    session: &'a Session,
    keys: &'a SessionKeys,
    settings: Option<&'a Settings>,
    values: &'a SettingsForm,
    problems: &'a [SettingsProblem],
    notices: &'a [Notice],
    script_line: Option<String>,
}

impl Page<'_> {
    async fn respond(self, deps: &Deps, code: StatusCode) -> Result<WebResponse, InstallError> {
        let (status, sender) = match self.settings {
            Some(settings) => {
                let db = &deps.aws.db;
                let hash = &self.store.store_hash;
                let (status, sender) = futures::try_join!(
                    status::load(db, hash, deps.clock.now()),
                    db.sender_status(hash, settings.sender_id.as_deref())
                )?;
                (Some(status), Some(sender))
            }
            None => (None, None),
        };
        let promotions = match deps.bigcommerce.store_client(self.store).await {
            Ok(client) => client.coupon_promotions().await,
            Err(error) => Err(error),
        }
        .inspect_err(|error| tracing::warn!(%error, "coupon promotions could not be listed"))
        .ok();
        let csrf = self.keys.csrf_token(self.session);
        let sealed = self.keys.seal(self.session);
        let body = render(&SettingsView {
            store_hash: &self.store.store_hash,
            user_email: &self.session.email,
            csrf: &csrf,
            session_token: &sealed,
            based_on_version: self.store.settings_version,
            in_force: self.settings,
            values: self.values,
            problems: self.problems,
            notices: self.notices,
            script_line: self.script_line,
            status: status.as_ref(),
            sender: sender.as_ref(),
            promotions: promotions.as_deref(),
        });
        Ok(page::respond_for_store(&self.store.store_hash, code, TITLE, body))
    }
}

/// `POST /settings`: "Connect". Saves a new settings version (who, when, what), puts the checkout script in
/// line with the chosen option, and starts the bulk sync when it is needed. Nothing is saved while any rule
/// fails, while BigCommerce's Require Consent is off (general-marketing option), or when another user saved
/// since this page was opened.
pub async fn connect(deps: &Deps, request: &Request) -> Result<WebResponse, InstallError> {
    let (session, store) = authenticate_post(deps, request).await?;
    let form = form::read(request.body())?;
    let span = shared::logging::store_span(&store.store_hash);
    connect_checked(deps, session, store, form).instrument(span).await
}

async fn connect_checked(
    deps: &Deps,
    session: Session,
    store: Store,
    form: SettingsForm,
) -> Result<WebResponse, InstallError> {
    let keys = keys(deps);
    let client = deps.bigcommerce.store_client(&store).await?;
    let previous = in_force(deps, &store).await?;
    let rejected = |problems: Vec<SettingsProblem>, notices: Vec<Notice>, code: StatusCode| Rejected {
        store: &store,
        session: &session,
        keys: &keys,
        settings: previous.as_ref(),
        values: &form,
        problems,
        notices,
        code,
    };

    let based_on = form
        .based_on_version
        .parse::<u32>()
        .ok()
        .ok_or_else(|| InstallError::BadRequest("The form is missing its settings version.".into()))?;
    if based_on != store.settings_version {
        return rejected(
            Vec::new(),
            vec![conflict_notice(previous.as_ref())],
            StatusCode::CONFLICT,
        )
        .respond(deps)
        .await;
    }
    let base = match &previous {
        Some(settings) => settings.clone(),
        None => Settings::defaults(session.user(), "", deps.clock.now()),
    };
    let candidate = match settings_from_form(&form, &base, session.user(), deps.clock.now()) {
        Ok(candidate) => candidate,
        Err(problems) => {
            return rejected(problems, Vec::new(), StatusCode::UNPROCESSABLE_ENTITY)
                .respond(deps)
                .await;
        }
    };
    if candidate.consent_option == ConsentOption::GeneralMarketing {
        match client.abandoned_cart_settings().await {
            Ok(bc) if bc.marketing_emails_require_customer_consent => {}
            Ok(_) => {
                let problem = SettingsProblem::new(
                    "require_consent_confirmed",
                    "BigCommerce reports that Require Consent is off, so checkout does not ask customers to opt \
                     in. Switch it on in your BigCommerce control panel under Settings › General › Miscellaneous \
                     (Email Settings › Require Consent), save, then Connect again.",
                );
                return rejected(vec![problem], Vec::new(), StatusCode::UNPROCESSABLE_ENTITY)
                    .respond(deps)
                    .await;
            }
            Err(error) => {
                tracing::warn!(%error, "Require Consent could not be read");
                let notice = Notice::error(format!(
                    "BigCommerce's Require Consent setting could not be checked ({error}). Nothing was saved: try \
                     again in a minute."
                ));
                return rejected(Vec::new(), vec![notice], StatusCode::BAD_GATEWAY)
                    .respond(deps)
                    .await;
            }
        }
    }

    let saved = match deps.aws.db.save_settings(&store.store_hash, based_on, candidate).await {
        Ok(saved) => saved,
        Err(shared::db::DbError::Conflict(_)) => {
            let latest = deps.aws.db.get_store(&store.store_hash).await?;
            let latest_settings = match latest.as_ref().map(|s| s.settings_version) {
                Some(version) if version > 0 => deps.aws.db.settings_version(&store.store_hash, version).await?,
                _ => None,
            };
            return rejected(
                Vec::new(),
                vec![conflict_notice(latest_settings.as_ref())],
                StatusCode::CONFLICT,
            )
            .respond(deps)
            .await;
        }
        Err(error) => return Err(error.into()),
    };
    tracing::info!(
        version = saved.version,
        option = ?saved.consent_option,
        user_id = session.user_id,
        "settings saved"
    );
    let store = Store {
        settings_version: saved.version,
        ..store
    };
    let mut notices = vec![Notice::success(format!(
        "Connected. Settings version {} is in force.",
        saved.version
    ))];
    let script_line = sync_script(deps, &client, &store, &saved, &mut notices, false).await;

    let latest_job = deps.aws.db.latest_sync_job(&store.store_hash).await?;
    if sync_needed(previous.as_ref(), &saved, latest_job.as_ref()) {
        match start_sync(deps, &store, saved.version).await {
            Ok(_) => notices.push(Notice::success("Contact sync started.")),
            Err(error) => {
                tracing::warn!(%error, "bulk sync could not be started");
                notices.push(Notice::warning(
                    "The contact sync could not be started just now. Use \"Sync contacts now\" to try again.",
                ));
            }
        }
    }
    let values = SettingsForm::from_settings(&saved);
    let page = Page {
        store: &store,
        session: &session,
        keys: &keys,
        settings: Some(&saved),
        values: &values,
        problems: &[],
        notices: &notices,
        script_line: Some(script_line),
    };
    page.respond(deps, StatusCode::OK).await
}

fn conflict_notice(latest: Option<&Settings>) -> Notice {
    let who = latest
        .map(|s| format!(" ({} at {})", s.saved_by.email, s.saved_at.format("%Y-%m-%d %H:%M UTC")))
        .unwrap_or_default();
    Notice::error(format!(
        "Someone else saved the settings{who} since you opened this page. Nothing was saved: reload the page to \
         see their changes, then make yours again."
    ))
}

/// A bulk sync runs on the first Connect with sync on, when sync is switched on, and when the consent option
/// changes (imported contacts get the new option's default). Other changes leave contacts as they are.
pub fn sync_needed(previous: Option<&Settings>, saved: &Settings, latest_job: Option<&SyncJob>) -> bool {
    saved.sync_contacts
        && (latest_job.is_none()
            || previous.is_none_or(|p| !p.sync_contacts || p.consent_option != saved.consent_option))
}

/// A job id that sorts by start time (`db.latest_sync_job` relies on it) and is unique.
pub fn new_job_id(now: DateTime<Utc>) -> String {
    use rand::RngCore;
    let mut suffix = [0u8; 4];
    rand::rng().fill_bytes(&mut suffix);
    format!("{}-{}", now.format("%Y%m%dT%H%M%S%.3fZ"), hex::encode(suffix))
}

/// Records a new sync job, then asks the sync function to start it.
async fn start_sync(deps: &Deps, store: &Store, settings_version: u32) -> Result<SyncJob, InstallError> {
    let now = deps.clock.now();
    let job = SyncJob::started(store.store_hash.clone(), new_job_id(now), settings_version, now);
    deps.aws.db.create_sync_job(&job).await?;
    deps.aws
        .sync_queue
        .send(&SyncMessage::StartBulkSync {
            store_hash: job.store_hash.clone(),
            job_id: job.job_id.clone(),
        })
        .await?;
    tracing::info!(job_id = %job.job_id, "bulk sync started");
    Ok(job)
}

/// `POST /settings/{action}`: `preview`, `sync`, `retry-failed-pages`, `refresh`, `test-text`
/// ([`crate::test_text`]), and the requests from people
/// ([`crate::privacy`]).
pub async fn action(deps: &Deps, request: &Request, action: &str) -> Result<WebResponse, InstallError> {
    let (session, store) = authenticate_post(deps, request).await?;
    let span = shared::logging::store_span(&store.store_hash);
    if crate::privacy::handles(action) {
        let keys = keys(deps);
        let auth = crate::privacy::Auth {
            session: &session,
            keys: &keys,
        };
        return crate::privacy::respond(deps, &auth, &store, &form::read(request.body())?, action)
            .instrument(span)
            .await;
    }
    if action == "refresh" {
        // The page again (sync progress), as a post so that it works without the cookie.
        return page_after_repair(deps, &store, &session, &keys(deps), Vec::new(), Opened::Load)
            .instrument(span)
            .await;
    }
    async {
        let keys = keys(deps);
        let settings = in_force(deps, &store).await?;
        let mut code = StatusCode::OK;
        let (notices, values, problems) = match action {
            "preview" => {
                // Shows what the form would produce, checkbox text included; saves nothing.
                let base = settings
                    .clone()
                    .unwrap_or_else(|| Settings::defaults(session.user(), "", deps.clock.now()));
                let form = form::read(request.body())?;
                let problems = settings_from_form(&form, &base, session.user(), deps.clock.now())
                    .err()
                    .unwrap_or_default();
                let notice = Notice::warning("Preview only: nothing was saved. Connect to save.");
                (vec![notice], form, problems)
            }
            "sync" => {
                let Some(current) = settings.as_ref().filter(|s| s.sync_contacts) else {
                    return Err(InstallError::BadRequest(
                        "Contact sync is off: switch it on and Connect first.".into(),
                    ));
                };
                let latest = deps.aws.db.latest_sync_job(&store.store_hash).await?;
                let busy = latest.as_ref().is_some_and(|job| {
                    job.status == SyncJobStatus::Running
                        && job.started_at > deps.clock.now() - Duration::hours(SYNC_RESTART_AFTER_HOURS)
                });
                let notice = if busy {
                    Notice::warning("A contact sync is already running.")
                } else {
                    start_sync(deps, &store, current.version).await?;
                    Notice::success("Contact sync started.")
                };
                (vec![notice], SettingsForm::from_settings(current), Vec::new())
            }
            "retry-failed-pages" => {
                let Some(current) = settings.as_ref() else {
                    return Err(InstallError::BadRequest("Connect before syncing contacts.".into()));
                };
                let notice = retry_failed_pages(deps, &store).await?;
                (vec![notice], SettingsForm::from_settings(current), Vec::new())
            }
            crate::test_text::ACTION => {
                let Some(current) = settings.as_ref() else {
                    return Err(InstallError::BadRequest("Connect before sending a test.".into()));
                };
                let fields = form::read(request.body())?;
                let (notice, status) = crate::test_text::request(deps, &store, current, &session, &fields).await?;
                code = status;
                (vec![notice], SettingsForm::from_settings(current), Vec::new())
            }
            _ => return Err(InstallError::BadRequest("There is no such action.".into())),
        };
        let page = Page {
            store: &store,
            session: &session,
            keys: &keys,
            settings: settings.as_ref(),
            values: &values,
            problems: &problems,
            notices: &notices,
            script_line: None,
        };
        page.respond(deps, code).await
    }
    .instrument(span)
    .await
}

/// Sends every failed page of the latest sync job back to the sync queue (the sync function counts a
/// retried page once, moving it from failed to done).
async fn retry_failed_pages(deps: &Deps, store: &Store) -> Result<Notice, InstallError> {
    let Some(job) = deps.aws.db.latest_sync_job(&store.store_hash).await? else {
        return Ok(Notice::warning("No contact sync has run yet."));
    };
    let pages = deps.aws.db.failed_sync_pages(&store.store_hash, &job.job_id).await?;
    if pages.is_empty() {
        return Ok(Notice::success("No failed pages to retry."));
    }
    // Each page with its cursor, so it reads the same place in the listing and continues the chain from there.
    let messages: Vec<SyncMessage> = pages
        .into_iter()
        .map(|failed| SyncMessage::CustomerPage {
            store_hash: store.store_hash.clone(),
            job_id: job.job_id.clone(),
            page: failed.page,
            per_page: CUSTOMERS_PER_PAGE,
            after: failed.after,
        })
        .collect();
    deps.aws.sync_queue.send_all(&messages).await?;
    tracing::info!(job_id = %job.job_id, pages = messages.len(), "failed sync pages re-queued");
    Ok(Notice::success(format!(
        "Retrying {} failed page{}.",
        messages.len(),
        if messages.len() == 1 { "" } else { "s" }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(option: ConsentOption, sync: bool) -> Settings {
        let user = MerchantUser {
            id: 1,
            email: "o@example.com".into(),
        };
        let mut s = Settings::defaults(user, "Acme", Utc::now());
        s.consent_option = option;
        s.sync_contacts = sync;
        s
    }

    fn job() -> SyncJob {
        SyncJob {
            status: SyncJobStatus::Completed,
            total_pages: 1,
            pages_done: 1,
            ..SyncJob::started(shared::StoreHash::parse("abc").unwrap(), "j".into(), 1, Utc::now())
        }
    }

    #[test]
    fn a_sync_runs_when_contacts_would_change() {
        let sms = settings(ConsentOption::SmsCheckbox, true);
        let job = job();
        assert!(sync_needed(None, &sms, None));
        assert!(sync_needed(None, &sms, Some(&job)));
        assert!(!sync_needed(Some(&sms), &sms, Some(&job)));
        assert!(sync_needed(Some(&sms), &sms, None));
        let off = settings(ConsentOption::SmsCheckbox, false);
        assert!(!sync_needed(Some(&sms), &off, Some(&job)));
        assert!(sync_needed(Some(&off), &sms, Some(&job)));
        let inferred = settings(ConsentOption::Inferred, true);
        assert!(sync_needed(Some(&sms), &inferred, Some(&job)));
    }

    #[test]
    fn job_ids_sort_by_time_and_differ() {
        let t = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let a = new_job_id(t);
        let b = new_job_id(t + Duration::milliseconds(1));
        assert!(a < b);
        assert_ne!(new_job_id(t), new_job_id(t));
    }
}
