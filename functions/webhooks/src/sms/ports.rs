//! What the reply handling uses ([`shared::ports::replies`]): the function's clients ([`Deps`]), or the
//! in-memory adapters of the unit tests (`memory.rs`).

use crate::Deps;
use chrono::{DateTime, Utc};
use shared::Secret;
use shared::aws::Aws;
use shared::config::AppUrl;
use shared::db::Db;
use shared::ports::Texter;
use shared::ports::replies::{ConsentChangeRecorder, DeliveryLeases, ReplyStore, TestTextStore};
use shared::sms::SmsClient;
use std::time::Duration;

pub trait ReplyPorts: Sync {
    type Store: ReplyStore + DeliveryLeases + TestTextStore;
    type Texter: Texter + Send;
    type Consent: ConsentChangeRecorder;
    fn store(&self) -> &Self::Store;
    /// The provider, with its own timeouts (test texts).
    fn texter(&self) -> &Self::Texter;
    /// The provider for an automatic answer, which must be taken within `timeout`: the function has to answer
    /// the provider's push within its own timeout.
    fn answer_texter(&self, timeout: Duration) -> Self::Texter;
    fn consent(&self) -> &Self::Consent;
    fn now(&self) -> DateTime<Utc>;
    fn app_url(&self) -> &AppUrl;
    /// The secret path token of the SMS callback URLs.
    fn sms_webhook_token(&self) -> &Secret;
}

impl ReplyPorts for Deps {
    type Store = Db;
    type Texter = SmsClient;
    type Consent = Aws;
    fn store(&self) -> &Db {
        &self.aws.db
    }
    fn texter(&self) -> &SmsClient {
        &self.sms
    }
    fn answer_texter(&self, timeout: Duration) -> SmsClient {
        self.sms.clone().with_timeout(timeout)
    }
    fn consent(&self) -> &Aws {
        &self.aws
    }
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    fn app_url(&self) -> &AppUrl {
        &self.app_url
    }
    fn sms_webhook_token(&self) -> &Secret {
        &self.sms_webhook_token
    }
}
