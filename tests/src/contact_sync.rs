//! Helpers for the contact sync and checkout consent tests: the sync function's dead-letter event source, a
//! sync function with a quick-giving-up BigCommerce client (to drive messages into the dead-letter queue
//! through the real redrive), signed webhook deliveries, and a page shaped like BigCommerce's one-page
//! checkout for the browser test.

use crate::TestApp;
use devstack::event_source::{PollOutcome, SqsEventSource};
use devstack::invoke::{SharedFunction, handler_fn};
use shared::bigcommerce::{BigCommerce, RetryPolicy};
use shared::model::{Contact, SyncJob};
use shared::{Phone, StoreHash};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The sync function reading the bulk sync queue's dead-letter queue (where customer pages end), as
/// template.yaml declares it.
pub fn dead_letter_source(app: &TestApp) -> SqsEventSource {
    let mut source = SqsEventSource::for_queue(
        &app.aws.sdk,
        &app.aws.template,
        &app.aws.resources,
        "SyncFunction",
        Some("BulkSyncDeadLetterQueue"),
        app.functions["sync"].clone(),
    )
    .expect("the sync function reads its dead-letter queue");
    source.retry_after_seconds = Some(0);
    source
}

/// The sync function with a BigCommerce client that tries each call once: a failing page fails fast, so a
/// test can take it through every SQS retry into the dead-letter queue. It reads the bulk sync queue.
pub fn impatient_sync_source(app: &TestApp) -> SqsEventSource {
    let policy = RetryPolicy {
        max_attempts: 1,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
        ..RetryPolicy::default()
    };
    let deps = Arc::new(sync::Deps {
        aws: app.sync.aws.clone(),
        bigcommerce: BigCommerce::with_policy(&app.bigcommerce_config, policy)
            .expect("client builds")
            .with_token_key(app.aws.token_key()),
        sms: app.sync.sms.clone(),
        sms_webhook_token: app.sync.sms_webhook_token.clone(),
        app_url: app.sync.app_url.clone(),
        clock: app.sync.clock.clone(),
        bulk_import_contacts_per_second: app.sync.bulk_import_contacts_per_second,
    });
    let function: SharedFunction = handler_fn(move |event| {
        let deps = deps.clone();
        async move { sync::handler(&deps, event).await }
    });
    let mut source = SqsEventSource::for_queue(
        &app.aws.sdk,
        &app.aws.template,
        &app.aws.resources,
        "SyncFunction",
        Some("BulkSyncQueue"),
        function,
    )
    .expect("the bulk sync queue's event source");
    source.retry_after_seconds = Some(0);
    source
}

/// Drains the sync queues, then the bulk sync dead-letter queue, until all are empty.
pub async fn drain_with_dead_letters(app: &TestApp) -> (PollOutcome, PollOutcome) {
    let dead_letters = dead_letter_source(app);
    let mut total = (PollOutcome::default(), PollOutcome::default());
    loop {
        let live = app.drain_sync().await;
        let dead = dead_letters.drain().await.expect("dead-letter queue drains");
        total.0.received += live.received;
        total.0.succeeded += live.succeeded;
        total.0.failed += live.failed;
        total.1.received += dead.received;
        total.1.succeeded += dead.succeeded;
        total.1.failed += dead.failed;
        if live.received == 0 && dead.received == 0 {
            return total;
        }
    }
}

/// The sync job as stored now; it must exist.
pub async fn sync_job(app: &TestApp, store: &StoreHash, job_id: &str) -> SyncJob {
    app.db()
        .get_sync_job(store, job_id)
        .await
        .expect("sync job read")
        .unwrap_or_else(|| panic!("no sync job {job_id}"))
}

/// Starts a bulk sync as "Connect" does: a job record and the start message.
pub async fn start_bulk_sync(app: &TestApp, store: &StoreHash, job_id: &str) -> SyncJob {
    let job = SyncJob::started(
        store.clone(),
        job_id.to_owned(),
        1,
        shared::Clock::now(app.clock.as_ref()),
    );
    app.db().create_sync_job(&job).await.expect("job created");
    app.sync
        .aws
        .sync_queue
        .send(&shared::messages::SyncMessage::StartBulkSync {
            store_hash: store.clone(),
            job_id: job_id.to_owned(),
        })
        .await
        .expect("start message queued");
    job
}

/// Every contact of the store, by phone.
pub async fn contacts_by_phone(app: &TestApp, store: &StoreHash) -> std::collections::BTreeMap<Phone, Contact> {
    app.db()
        .store_contacts(store)
        .await
        .expect("contacts listed")
        .into_iter()
        .map(|c| (c.phone.clone(), c))
        .collect()
}

/// A webhook delivery as BigCommerce sends it, for tests that forge or replay deliveries by hand.
pub struct Delivery {
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Delivery {
    /// A delivery of `scope` for `store` with the store's secret header and a valid Standard Webhooks
    /// signature by the app's client secret.
    pub fn signed(app: &TestApp, store: &str, secret: &str, scope: &str, data: serde_json::Value) -> Self {
        let created_at = chrono::Utc::now().timestamp();
        let hash = uuid::Uuid::new_v4().simple().to_string();
        let body = serde_json::json!({
            "scope": scope,
            "store_id": "1000001",
            "data": data,
            "hash": hash,
            "created_at": created_at,
            "producer": format!("stores/{store}"),
        })
        .to_string();
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let signature =
            sim::bigcommerce::webhook_signature(app.bigcommerce_config.client_secret.expose(), &id, created_at, &body);
        Self {
            body,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                (shared::bigcommerce::WEBHOOK_SECRET_HEADER.into(), secret.into()),
                ("webhook-id".into(), id),
                ("webhook-timestamp".into(), created_at.to_string()),
                ("webhook-signature".into(), signature),
            ],
        }
    }

    pub fn without(mut self, header: &str) -> Self {
        self.headers.retain(|(name, _)| name != header);
        self
    }

    pub fn with(mut self, header: &str, value: &str) -> Self {
        self.headers.retain(|(name, _)| name != header);
        self.headers.push((header.into(), value.into()));
        self
    }

    pub async fn post(&self, app: &TestApp) -> reqwest::Response {
        let mut request = app
            .http
            .post(app.url(shared::bigcommerce::WEBHOOK_PATH))
            .body(self.body.clone());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        request.send().await.expect("receiver answers")
    }
}

/// A tiny web server for a storefront's checkout: `GET /checkout` answers `html`, `GET /api/storefront/carts`
/// answers the shopper's cart (as BigCommerce's Storefront API does, same origin). Stops when dropped.
pub struct CheckoutSite {
    pub origin: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CheckoutSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CheckoutSite {
    pub async fn start(html: String, cart_id: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let origin = format!("http://{}", listener.local_addr().expect("address"));
        let html = Arc::new(html);
        let carts = Arc::new(serde_json::json!([{ "id": cart_id }]).to_string());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (html, carts) = (html.clone(), carts.clone());
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 8192];
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    let request = String::from_utf8_lossy(&buffer[..read]);
                    let path = request.split_whitespace().nth(1).unwrap_or("/");
                    let (status, content_type, body) = if path.starts_with("/api/storefront/carts") {
                        ("200 OK", "application/json", carts.as_str())
                    } else if path.starts_with("/checkout") {
                        ("200 OK", "text/html; charset=utf-8", html.as_str())
                    } else {
                        ("404 Not Found", "text/plain", "not found")
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        Self { origin, task }
    }

    /// `127.0.0.1:port`, the store domain as BigCommerce's store information would give it.
    pub fn host(&self) -> &str {
        self.origin.trim_start_matches("http://")
    }
}
