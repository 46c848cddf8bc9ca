//! The clients a function that talks to stores and shoppers needs (`shopper`, `sync`, `send`), built once per
//! Lambda instance from the configuration contract.

use crate::access_token::TokenKey;
use crate::aws::Aws;
use crate::bigcommerce::{BigCommerce, BigCommerceError};
use crate::config::{AppUrl, AwsResources, BigCommerceConfig, ConfigError, Env, SmsConfig, sms_webhook_token};
use crate::sms::SmsClient;
use crate::{Clock, Secret};
use std::num::NonZeroU32;
use std::sync::Arc;

pub struct Clients {
    pub aws: Aws,
    pub bigcommerce: BigCommerce,
    pub sms: SmsClient,
    /// The secret path token of the SMS callback URLs our messages carry.
    pub sms_webhook_token: Secret,
    pub app_url: AppUrl,
    pub clock: Arc<dyn Clock>,
    /// `sync` only: the deployment's bulk-import budget in contacts per second (`None`: unpaced).
    pub bulk_import_contacts_per_second: Option<NonZeroU32>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    BigCommerce(#[from] BigCommerceError),
}

impl Clients {
    /// From the configuration `main.rs` read ([`crate::aws::startup_config`]).
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, ClientsError> {
        let clock = crate::clock::clock_from_env(env)?;
        Ok(Self {
            aws: Aws::new(sdk, &AwsResources::from_env(env)?),
            bigcommerce: BigCommerce::new(&BigCommerceConfig::from_env(env)?)?
                .with_token_key(TokenKey::from_env(sdk, env)?),
            sms: SmsClient::new(&SmsConfig::from_env(env)?, crate::tls::client(), clock.clone()),
            sms_webhook_token: sms_webhook_token(env)?,
            app_url: AppUrl::from_env(env)?,
            clock,
            bulk_import_contacts_per_second: crate::config::bulk_import_contacts_per_second(env)?,
        })
    }
}
