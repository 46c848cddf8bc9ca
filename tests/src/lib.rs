//! The test harness: a moto server per test process (or the one the test command started, via `MOTO_URL`),
//! and for each test a fresh set of the template's resources under a unique prefix, so tests run in parallel
//! without sharing state.

use devstack::fault_proxy::FaultProxy;
use devstack::moto::{Moto, app_sdk_config_for, sdk_config_for};
use devstack::provision::{Resources, provision};
use devstack::template::Template;
use shared::aws::Aws;
use shared::config::AwsResources;
use tokio::sync::OnceCell;

static MOTO_URL: OnceCell<String> = OnceCell::const_new();

/// The emulator's URL. Starts moto from the project-local tools when the test command did not start one; fails
/// with instructions when neither is possible (an integration test never silently skips).
pub async fn moto_url() -> String {
    MOTO_URL
        .get_or_init(|| async {
            match Moto::start_or_connect().await {
                Ok(moto) => moto.leak(),
                Err(error) => panic!("integration tests need the AWS emulator: {error}"),
            }
        })
        .await
        .clone()
}

/// Makes [`moto_url`] answer with an emulator the caller started (and will stop).
pub fn use_moto(url: &str) {
    MOTO_URL
        .set(url.to_owned())
        .expect("use_moto is called before any test resource is created");
}

static FAULT_PROXY: std::sync::OnceLock<Option<FaultProxy>> = std::sync::OnceLock::new();

/// The fault proxy the app's AWS calls go through when `FAULT_RATE` is set (a share, e.g. `0.1`; faults drawn
/// from `FAULT_SEED`, random by default), one per test process in front of [`moto_url`].
pub async fn fault_proxy() -> Option<FaultProxy> {
    let moto = moto_url().await;
    FAULT_PROXY
        .get_or_init(|| {
            let rate: f64 = match std::env::var("FAULT_RATE") {
                Ok(rate) if !rate.is_empty() => rate.parse().expect("FAULT_RATE is a share such as 0.1"),
                _ => return None,
            };
            let seed = match std::env::var("FAULT_SEED") {
                Ok(seed) if !seed.is_empty() => seed.parse().expect("FAULT_SEED is a number"),
                _ => uuid::Uuid::new_v4().as_u64_pair().0,
            };
            let proxy = FaultProxy::start(&moto, rate, seed).expect("fault proxy starts");
            eprintln!(
                "fault proxy at {} faults {rate} of the app's AWS calls (FAULT_SEED={seed})",
                proxy.url()
            );
            Some(proxy)
        })
        .clone()
}

/// A unique, short resource prefix.
pub fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// The template's AWS resources, freshly created in the emulator for one test.
pub struct TestAws {
    /// Straight to the emulator: for creating resources, for what stands in for AWS (event sources), and for
    /// tests' own reads and writes.
    pub sdk: aws_config::SdkConfig,
    pub template: Template,
    pub resources: Resources,
    pub aws_resources: AwsResources,
    /// The app's adapters, with the functions' SDK policy, through the fault proxy when there is one.
    pub aws: Aws,
    /// The same adapters straight to the emulator (what [`TestAws::db`] uses).
    pub direct: Aws,
    /// Every request the app's adapters ([`TestAws::aws`]) made.
    pub requests: metering::AwsRequests,
    /// Whether the app's calls go through the fault proxy (a fault run, unless a test opted out).
    pub faulted: bool,
}

impl TestAws {
    pub async fn new() -> Self {
        match fault_proxy().await {
            Some(proxy) => Self::with_app_endpoint(proxy.url(), true).await,
            None => Self::without_faults().await,
        }
    }

    /// Like [`TestAws::new`], but the app's calls go straight to the emulator even in a fault run.
    pub async fn without_faults() -> Self {
        Self::with_app_endpoint(&moto_url().await, false).await
    }

    async fn with_app_endpoint(app_endpoint: &str, faulted: bool) -> Self {
        let sdk = sdk_config_for(&moto_url().await).await;
        let template = Template::load_default().expect("template.yaml loads");
        let resources = provision(&sdk, &template, &unique_prefix())
            .await
            .expect("resources created from template.yaml");
        let aws_resources = resources
            .aws_resources(&template)
            .expect("template sets every AWS resource variable");
        let requests = metering::AwsRequests::default();
        let aws = requests.instrumented(&app_sdk_config_for(app_endpoint).await, &aws_resources);
        let direct = Aws::new(&sdk, &aws_resources);
        Self {
            sdk,
            template,
            resources,
            aws_resources,
            aws,
            direct,
            requests,
            faulted,
        }
    }

    pub fn db(&self) -> &shared::db::Db {
        &self.direct.db
    }

    /// The sweep's dependencies as its Lambda gets them (its own `SWEEP_SHARD_QUEUE_URL`), over `aws`.
    pub fn sweep_deps(
        &self,
        aws: Aws,
        clock: std::sync::Arc<dyn shared::Clock>,
        carts_per_worker: usize,
    ) -> sweep::Deps {
        let url = self
            .resources
            .reference("SweepShardQueue")
            .expect("template.yaml declares the sweep shard queue");
        sweep::Deps {
            shards: aws.send_queue.sibling(url),
            aws,
            clock,
            carts_per_worker,
        }
    }

    /// The template's access-token key, as the functions that call BigCommerce get it (`ACCESS_TOKEN_KEY_ID`).
    pub fn token_key(&self) -> shared::access_token::TokenKey {
        let env = self
            .resources
            .function_environment(&self.template)
            .expect("template functions");
        shared::access_token::TokenKey::from_env(
            &self.sdk,
            &shared::config::Env::from_pairs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        )
        .expect("template sets ACCESS_TOKEN_KEY_ID")
    }
}

/// A fixed, readable instant for tests: `at("2026-11-25T14:00:00Z")`.
pub fn at(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339")
        .with_timezone(&chrono::Utc)
}

pub mod builders;
pub mod install;
pub mod metering;
pub mod recovery;
pub mod replies;

pub use app::{SHOPPER_BROWSER, SeededStore, TestApp, TestAppOptions};

pub mod contact_sync;
pub mod demo;

mod app {
    //! The whole app on loopback: every function's real handler behind the template's HTTP API and SQS event
    //! sources, against moto, the BigCommerce simulator and the SMS sandbox, with one manual clock.

    use super::TestAws;
    use chrono::{DateTime, Utc};
    use devstack::event_source::{PollOutcome, SqsEventSource};
    use devstack::gateway::{Gateway, GatewayListener};
    use devstack::invoke::{SharedFunction, handler_fn, http_fn, scheduled_event};
    use shared::bigcommerce::BigCommerce;
    use shared::config::{AppUrl, BigCommerceConfig, SmsConfig};
    use shared::model::{MerchantUser, Settings, Store, StoreStatus};
    use shared::sms::SmsClient;
    use shared::{Clock, ManualClock, Secret, StoreHash};
    use sim::bigcommerce::SimConfig;
    use sim::{BigCommerceSim, SandboxConfig, SmsSandbox};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    /// The user agent of [`TestApp::http`]: a phone's browser.
    pub const SHOPPER_BROWSER: &str =
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1";

    /// What [`TestApp::seed_store`] created.
    pub struct SeededStore {
        pub store_hash: StoreHash,
        pub token: Secret,
        pub webhook_secret: Secret,
        pub settings: Settings,
    }

    pub struct TestAppOptions {
        /// Where the manual clock starts (default: now, to the second).
        pub start: DateTime<Utc>,
        /// The BigCommerce store quota per window.
        pub requests_per_window: u32,
        pub quota_window: std::time::Duration,
        /// Send through the sandbox's Twilio API instead of its MessageMedia API.
        pub twilio: bool,
        /// The MessageMedia account signs its webhooks (the sandbox signs with a fresh key, the app verifies
        /// with its public half).
        pub messagemedia_signed_webhooks: bool,
        /// Configured as a deployment (no `APP_ENVIRONMENT=local`), not as the local tooling.
        pub deployed: bool,
        /// Bulk sync messages go to the live sync queue too, as before bulk sync had its own queue (the
        /// `fairness` benchmark's baseline).
        pub shared_sync_queue: bool,
        /// Carts one sweep worker invocation takes before handing the rest of its shard on.
        pub sweep_carts_per_worker: usize,
        /// The deployment's bulk-import budget (`BULK_IMPORT_CONTACTS_PER_SECOND`); none, so suites run
        /// unpaced.
        pub bulk_import_contacts_per_second: Option<std::num::NonZeroU32>,
        /// Settings versions the app's `Db` keeps in memory (0: none, every message reads its version; the
        /// `cost` benchmark's baseline).
        pub settings_versions_kept: usize,
        /// The app's AWS calls go through the fault proxy in a fault run (`FAULT_RATE`). Off only for a test
        /// of wall-clock latency, which the proxy's timed-out calls would perturb by chance.
        pub aws_faults: bool,
        /// How long the app's SMS client waits for the provider's answer (default: the deployed
        /// [`shared::sms::DEFAULT_TIMEOUT`]; the replies' answers have their own, shorter one).
        pub sms_timeout: std::time::Duration,
    }

    impl Default for TestAppOptions {
        fn default() -> Self {
            use chrono::Timelike;
            Self {
                start: Utc::now().with_nanosecond(0).expect("valid"),
                requests_per_window: 150,
                quota_window: std::time::Duration::from_secs(30),
                twilio: false,
                messagemedia_signed_webhooks: false,
                deployed: false,
                shared_sync_queue: false,
                sweep_carts_per_worker: sweep::CARTS_PER_WORKER,
                bulk_import_contacts_per_second: None,
                settings_versions_kept: shared::db::SETTINGS_CACHE_CAP,
                aws_faults: true,
                sms_timeout: shared::sms::DEFAULT_TIMEOUT,
            }
        }
    }

    pub struct TestApp {
        pub aws: TestAws,
        pub clock: Arc<ManualClock>,
        pub bigcommerce: BigCommerceSim,
        pub sms: SmsSandbox,
        pub gateway: Gateway,
        /// A plain HTTP client that does not follow redirects.
        pub http: reqwest::Client,
        /// The sync function on the live sync queue (store events, write-backs, checkout consent checks).
        pub sync_queue: SqsEventSource,
        /// The sync function on the bulk sync queue (bulk sync starts and customer pages).
        pub bulk_sync_queue: SqsEventSource,
        pub send_queue: SqsEventSource,
        /// The sweep's workers on the sweep shard queue.
        pub sweep_shard_queue: SqsEventSource,
        /// What the sweep workers did since [`TestApp::drain_sweep_shards`] last looked.
        sweep_workers: Arc<std::sync::Mutex<sweep::SweepReport>>,
        pub sweep: Arc<sweep::Deps>,
        /// Every function's handler by crate name (`install`, `sweep`, ...), invocable with a JSON event.
        pub functions: BTreeMap<String, SharedFunction>,
        /// Every invocation of those handlers, timed.
        pub invocations: crate::metering::Invocations,
        pub install: Arc<install::Deps>,
        pub webhooks: Arc<webhooks::Deps>,
        pub shopper: Arc<shopper::Deps>,
        pub sync: Arc<sync::Deps>,
        pub send: Arc<send::Deps>,
        pub bigcommerce_config: BigCommerceConfig,
        pub sms_config: SmsConfig,
        pub sms_webhook_token: Secret,
    }

    impl TestApp {
        pub async fn start() -> Self {
            Self::start_with(TestAppOptions::default()).await
        }

        /// The app with its clock at `rfc3339` and every other option at its default.
        pub async fn start_at(rfc3339: &str) -> Self {
            Self::start_with(TestAppOptions {
                start: crate::at(rfc3339),
                ..TestAppOptions::default()
            })
            .await
        }

        pub async fn start_with(options: TestAppOptions) -> Self {
            let mut aws = if options.aws_faults {
                TestAws::new().await
            } else {
                TestAws::without_faults().await
            };
            if options.shared_sync_queue {
                aws.aws_resources.bulk_sync_queue_url = aws.aws_resources.sync_queue_url.clone();
                aws.aws = shared::aws::Aws::new(&aws.sdk, &aws.aws_resources);
            }
            aws.aws.db = aws
                .aws
                .db
                .clone()
                .with_settings_cache_capacity(options.settings_versions_kept);
            let clock = Arc::new(ManualClock::new(options.start));
            let dyn_clock: Arc<dyn Clock> = clock.clone();
            let listener = GatewayListener::bind("127.0.0.1:0").await.expect("loopback port");
            let app_url = AppUrl::new(listener.url());

            let client_secret = Secret::random();
            let bigcommerce = BigCommerceSim::start(SimConfig {
                client_id: "test-client-id".into(),
                client_secret: client_secret.expose().to_owned(),
                redirect_uri: app_url.join("/auth"),
                requests_per_window: options.requests_per_window,
                window: options.quota_window,
                ..SimConfig::default()
            })
            .await;
            // BigCommerce signs callbacks with its own time; here that is the app's manual clock.
            let jwt_clock = clock.clone();
            bigcommerce.set_jwt_clock(move || jwt_clock.now());
            let bigcommerce_config = BigCommerceConfig {
                client_id: "test-client-id".into(),
                client_secret,
                api_url: bigcommerce.api_url(),
                login_url: bigcommerce.login_url(),
            };

            let signing_key = options
                .messagemedia_signed_webhooks
                .then(|| rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("an RSA key generates"));
            let messagemedia_callbacks = match &signing_key {
                Some(key) => shared::config::MessageMediaCallbacks::Signed(
                    shared::sms::MessageMediaWebhookKey::from_public_key(key.to_public_key()),
                ),
                // Without a key, what the configuration contract gives the local tooling, or a deployment.
                None => {
                    let env: &[(&str, &str)] = if options.deployed {
                        &[]
                    } else {
                        &[("APP_ENVIRONMENT", "local")]
                    };
                    shared::config::messagemedia_callbacks(&shared::config::Env::from_pairs(env.iter().copied()))
                        .expect("valid configuration")
                }
            };
            let sms = SmsSandbox::start(SandboxConfig {
                twilio_account_sid: "AC00000000000000000000000000000000".into(),
                twilio_auth_token: "twilio-test-auth-token".into(),
                messagemedia_signing_key: signing_key,
                ..SandboxConfig::default()
            })
            .await
            .expect("SMS sandbox starts");
            let sandbox_clock = clock.clone();
            sms.set_clock(move || sandbox_clock.now());
            let sms_config = if options.twilio {
                SmsConfig::Twilio {
                    account_sid: sms.config().twilio_account_sid.clone(),
                    auth_token: Secret::new(sms.config().twilio_auth_token.clone()),
                    api_url: sms.api_url(),
                }
            } else {
                SmsConfig::Sandbox { api_url: sms.api_url() }
            };
            let sms_webhook_token = Secret::random();
            let sms_client = || {
                SmsClient::new(&sms_config, reqwest::Client::new(), dyn_clock.clone()).with_timeout(options.sms_timeout)
            };
            // The deployed policy's attempts, with its backoff after a 5xx or a dropped connection a tenth as
            // long (25 ms, doubling up to 2 s): the suites inject hundreds of them. 429s still wait for the
            // simulator's window to reset, as deployed.
            let retry_policy = shared::bigcommerce::RetryPolicy {
                base_backoff: std::time::Duration::from_millis(25),
                max_backoff: std::time::Duration::from_secs(2),
                ..shared::bigcommerce::RetryPolicy::default()
            };
            let bigcommerce_client =
                || BigCommerce::with_policy(&bigcommerce_config, retry_policy.clone()).expect("client builds");
            // Only the functions that call BigCommerce hold the key that opens stored access tokens, as in AWS.
            let token_key = aws.token_key();
            let store_caller = || bigcommerce_client().with_token_key(token_key.clone());

            let install = Arc::new(install::Deps {
                aws: aws.aws.clone(),
                bigcommerce: store_caller(),
                bigcommerce_config: bigcommerce_config.clone(),
                app_url: app_url.clone(),
                sms: sms_client(),
                sms_webhook_token: sms_webhook_token.clone(),
                clock: dyn_clock.clone(),
            });
            let webhooks = Arc::new(webhooks::Deps {
                aws: aws.aws.clone(),
                bigcommerce: bigcommerce_client(),
                bigcommerce_config: bigcommerce_config.clone(),
                sms: sms_client(),
                sms_config: sms_config.clone(),
                sms_webhook_token: sms_webhook_token.clone(),
                messagemedia_callbacks,
                app_url: app_url.clone(),
                clock: dyn_clock.clone(),
            });
            // shopper, sync and send use the same clients; each function has its own, as in Lambda.
            let clients = || {
                Arc::new(shared::clients::Clients {
                    aws: aws.aws.clone(),
                    bigcommerce: store_caller(),
                    sms: sms_client(),
                    sms_webhook_token: sms_webhook_token.clone(),
                    app_url: app_url.clone(),
                    clock: dyn_clock.clone(),
                    bulk_import_contacts_per_second: options.bulk_import_contacts_per_second,
                })
            };
            let (shopper, sync, send) = (clients(), clients(), clients());
            let sweep_deps =
                Arc::new(aws.sweep_deps(aws.aws.clone(), dyn_clock.clone(), options.sweep_carts_per_worker));

            // Every function's real handler, keyed by crate name, behind the adapters Lambda's runtime uses.
            let mut functions: BTreeMap<String, SharedFunction> = BTreeMap::new();
            let d = install.clone();
            functions.insert(
                "install".into(),
                http_fn(move |r| {
                    let d = d.clone();
                    async move { install::handler(&d, r).await }
                }),
            );
            let d = webhooks.clone();
            functions.insert(
                "webhooks".into(),
                http_fn(move |r| {
                    let d = d.clone();
                    async move { webhooks::handler(&d, r).await }
                }),
            );
            let d = shopper.clone();
            functions.insert(
                "shopper".into(),
                http_fn(move |r| {
                    let d = d.clone();
                    async move { shopper::handler(&d, r).await }
                }),
            );
            let d = sync.clone();
            functions.insert(
                "sync".into(),
                handler_fn(move |e| {
                    let d = d.clone();
                    async move { sync::handler(&d, e).await }
                }),
            );
            let d = sweep_deps.clone();
            functions.insert(
                "sweep".into(),
                handler_fn(move |e| {
                    let d = d.clone();
                    async move { sweep::handler(&d, e).await }
                }),
            );
            let d = send.clone();
            functions.insert(
                "send".into(),
                handler_fn(move |e| {
                    let d = d.clone();
                    async move { send::handler(&d, e).await }
                }),
            );

            // Each invocation timed, as Lambda bills it.
            let invocations = crate::metering::Invocations::default();
            let functions: BTreeMap<String, SharedFunction> = functions
                .into_iter()
                .map(|(name, function)| {
                    let timed = invocations.timed(&name, function);
                    (name, timed)
                })
                .collect();
            let definitions = aws.template.functions().expect("template functions");
            let by_logical_id: BTreeMap<String, SharedFunction> = definitions
                .iter()
                .map(|f| (f.logical_id.clone(), functions[f.crate_name()].clone()))
                .collect();
            let gateway = listener.serve(&aws.template, &by_logical_id).expect("HTTP API routes");
            let event_source = |logical_id: &str, queue: &str| {
                let mut source = SqsEventSource::for_queue(
                    &aws.sdk,
                    &aws.template,
                    &aws.resources,
                    logical_id,
                    Some(queue),
                    by_logical_id[logical_id].clone(),
                )
                .expect("event source from template");
                source.retry_after_seconds = Some(0);
                source
            };
            let sync_queue = event_source("SyncFunction", "SyncQueue");
            let bulk_sync_queue = event_source("SyncFunction", "BulkSyncQueue");
            let send_queue = event_source("SendFunction", "SendQueue");
            // The sweep's real worker, its figures kept for the tests.
            let sweep_workers = Arc::new(std::sync::Mutex::new(sweep::SweepReport::default()));
            let (d, totals) = (sweep_deps.clone(), sweep_workers.clone());
            let mut sweep_shard_queue = SqsEventSource::for_queue(
                &aws.sdk,
                &aws.template,
                &aws.resources,
                "SweepFunction",
                Some("SweepShardQueue"),
                handler_fn(
                    move |e: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| {
                        let (d, totals) = (d.clone(), totals.clone());
                        async move {
                            let (response, report) = sweep::work_shards(&d, e.payload).await;
                            totals.lock().expect("not poisoned").add(&report);
                            Ok::<_, lambda_runtime::Error>(response)
                        }
                    },
                ),
            )
            .expect("event source from template");
            sweep_shard_queue.retry_after_seconds = Some(0);

            Self {
                aws,
                clock,
                bigcommerce,
                sms,
                gateway,
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    // A shopper's phone browser (recovery links tell people from link previews by this).
                    .user_agent(SHOPPER_BROWSER)
                    .build()
                    .expect("client builds"),
                sync_queue,
                bulk_sync_queue,
                send_queue,
                sweep_shard_queue,
                sweep_workers,
                sweep: sweep_deps,
                functions,
                invocations,
                install,
                webhooks,
                shopper,
                sync,
                send,
                bigcommerce_config,
                sms_config,
                sms_webhook_token,
            }
        }

        /// The app's public URL for `path` (the local `APP_URL` + path).
        pub fn url(&self, path: &str) -> String {
            format!("{}{path}", self.gateway.url())
        }

        pub fn db(&self) -> &shared::db::Db {
            self.aws.db()
        }

        /// Runs the sync function on everything in the live and bulk sync queues, as Lambda's event sources
        /// would, until both are empty (failed messages are retried at once and reach the dead-letter queue
        /// after the template's `maxReceiveCount`).
        pub async fn drain_sync(&self) -> PollOutcome {
            let mut total = PollOutcome::default();
            loop {
                let live = self.sync_queue.drain().await.expect("sync queue drains");
                let bulk = self.bulk_sync_queue.drain().await.expect("bulk sync queue drains");
                for outcome in [live, bulk] {
                    total.received += outcome.received;
                    total.succeeded += outcome.succeeded;
                    total.failed += outcome.failed;
                }
                if live.received == 0 && bulk.received == 0 {
                    return total;
                }
            }
        }

        pub async fn drain_send(&self) -> PollOutcome {
            self.send_queue.drain().await.expect("send queue drains")
        }

        /// Checks what an event source's invocations did with their messages: `succeeded` exactly, `failed`
        /// exactly too, except in a fault run, where an AWS call that failed all its attempts fails one
        /// invocation more (SQS delivers its message again, so `succeeded` still holds).
        pub fn assert_outcome(&self, outcome: PollOutcome, succeeded: usize, failed: usize, what: &str) {
            assert_eq!(outcome.succeeded, succeeded, "{what}: {outcome:?}");
            if self.aws.faulted {
                assert!(outcome.failed >= failed, "{what}: {outcome:?}");
            } else {
                assert_eq!(outcome.failed, failed, "{what}: {outcome:?}");
            }
        }

        /// A store as if the merchant had installed the app and connected with the default settings changed by
        /// `configure`: the simulator's store, a token, our store record, a saved settings version and the
        /// app's webhooks registered (pointing at this app). For tests of everything after install; the
        /// install flow itself has its own tests.
        pub async fn seed_store(&self, hash: &str, configure: impl FnOnce(&mut Settings)) -> SeededStore {
            let store_hash = StoreHash::parse(hash).expect("valid store hash");
            self.bigcommerce
                .create_store(hash, sim::bigcommerce::StoreSeed::default());
            let token = Secret::new(self.bigcommerce.issue_token(hash));
            let now = self.clock.now();
            let owner = MerchantUser {
                id: 1,
                email: format!("owner@{hash}.example.com"),
            };
            let access_token = self
                .install
                .bigcommerce
                .seal_token(&store_hash, &token)
                .await
                .expect("token sealed");
            let record = Store {
                store_hash: store_hash.clone(),
                status: StoreStatus::Installed,
                access_token,
                scopes: vec![],
                owner: owner.clone(),
                account_uuid: "test-account".into(),
                webhook_secret: Secret::random(),
                installed_at: now,
                updated_at: now,
                uninstalled_at: None,
                purge_after: None,
                settings_version: 0,
            };
            self.db().put_store(&record).await.expect("store saved");
            let mut settings = Settings::defaults(owner, "Acme Outfitters", now);
            settings.terms_url = Some("https://acme.example.com/terms".into());
            settings.privacy_url = Some("https://acme.example.com/privacy".into());
            settings.help_contact = "help@acme.example.com".into();
            if let Ok(disclosure) = shared::consent::build_disclosure(
                &settings.brand_name,
                settings.terms_url.as_deref().unwrap_or_default(),
                settings.privacy_url.as_deref().unwrap_or_default(),
            ) {
                settings.disclosure_version = Some(disclosure.version);
            }
            configure(&mut settings);
            let settings = self
                .db()
                .save_settings(&store_hash, 0, settings)
                .await
                .expect("settings saved");
            let client = self.install.bigcommerce.store(&store_hash, &token);
            for scope in shared::bigcommerce::WEBHOOK_SCOPES {
                let hook = shared::bigcommerce::NewHook {
                    scope: (*scope).to_owned(),
                    destination: self.url(shared::bigcommerce::WEBHOOK_PATH),
                    is_active: true,
                    headers: [(
                        shared::bigcommerce::WEBHOOK_SECRET_HEADER.to_owned(),
                        record.webhook_secret.clone(),
                    )]
                    .into(),
                };
                client.create_hook(&hook).await.expect("hook registered");
            }
            SeededStore {
                store_hash,
                token,
                webhook_secret: record.webhook_secret,
                settings,
            }
        }

        /// The operator approves the store's sender, after checking in the provider account that it was
        /// registered for this merchant (the same write as `cargo xtask sender approve`).
        pub async fn approve_sender(&self, store: &SeededStore, sharing: shared::model::SenderSharing) {
            let sender = store.settings.sender_id.as_deref().expect("the store has a sender");
            self.db()
                .approve_sender(sender, &store.store_hash, sharing, self.clock.now())
                .await
                .expect("sender approved");
        }

        /// Moves the sweep's watermark to now (an hour back) with no shard held, as if the 5-minute schedule had
        /// run all along and found nothing due: for a test whose clock jumps days and has no cart due meanwhile,
        /// so that its next sweep does not probe every hour of the jump (a real deployment's schedule never
        /// falls days behind).
        pub async fn sweep_schedule_kept_up(&self) {
            let now = self.clock.now();
            self.db()
                .advance_sweep_watermark(now, &[], now)
                .await
                .expect("watermark moved");
        }

        /// Invokes the sweep with the scheduled event EventBridge would send now (by the manual clock), retried
        /// as Lambda retries an asynchronous invocation, then runs its workers until the sweep shard queue is
        /// empty: the fan-out's report with the workers' figures added.
        pub async fn run_sweep(&self) -> serde_json::Value {
            let fan_out = devstack::invoke::invoke_async(&*self.functions["sweep"], scheduled_event(self.clock.now()))
                .await
                .expect("sweep runs");
            let mut report: sweep::SweepReport = serde_json::from_value(fan_out).expect("a sweep report");
            report.add(&self.drain_sweep_shards().await);
            serde_json::to_value(report).expect("serializable")
        }

        /// Runs the sweep workers until the sweep shard queue is empty (failed messages are retried at once);
        /// what they did since the last look.
        pub async fn drain_sweep_shards(&self) -> sweep::SweepReport {
            self.sweep_shard_queue.drain().await.expect("sweep shard queue drains");
            std::mem::take(&mut *self.sweep_workers.lock().expect("not poisoned"))
        }
    }
}
