//! The test harness: a moto server per test process (or the one the test command started, via `MOTO_URL`),
//! and for each test a fresh set of the template's resources under a unique prefix, so tests run in parallel
//! without sharing state.

use devstack::moto::{Moto, sdk_config_for};
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

/// A unique, short resource prefix.
pub fn unique_prefix() -> String {
    format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// The template's AWS resources, freshly created in the emulator for one test.
pub struct TestAws {
    pub sdk: aws_config::SdkConfig,
    pub template: Template,
    pub resources: Resources,
    pub aws_resources: AwsResources,
    pub aws: Aws,
}

impl TestAws {
    pub async fn new() -> Self {
        let sdk = sdk_config_for(&moto_url().await).await;
        let template = Template::load_default().expect("template.yaml loads");
        let resources = provision(&sdk, &template, &unique_prefix())
            .await
            .expect("resources created from template.yaml");
        let aws_resources = resources
            .aws_resources(&template)
            .expect("template sets every AWS resource variable");
        let aws = Aws::new(&sdk, &aws_resources);
        Self {
            sdk,
            template,
            resources,
            aws_resources,
            aws,
        }
    }

    pub fn db(&self) -> &shared::db::Db {
        &self.aws.db
    }
}

/// A fixed, readable instant for tests: `at("2026-11-25T14:00:00Z")`.
pub fn at(rfc3339: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("valid RFC 3339")
        .with_timezone(&chrono::Utc)
}
