//! Creates the template's table, queues, event bus and KMS keys in the emulator, under a name prefix so test
//! runs and stacks never share state; and the app secret the template expects to exist before a deploy.

use crate::template::{EnvValue, Template, TemplateError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("creating {0} failed: {1}")]
    Aws(String, String),
}

fn aws_err(what: &str, error: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Aws(what.to_owned(), error.to_string())
}

/// The resources created for one prefix: logical id → physical name (table, bus) or URL (queue).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub tables: BTreeMap<String, String>,
    pub queue_urls: BTreeMap<String, String>,
    pub queue_arns: BTreeMap<String, String>,
    pub buses: BTreeMap<String, String>,
    /// KMS key logical id → key id.
    pub keys: BTreeMap<String, String>,
}

impl Resources {
    /// What `!Ref Logical` means for a resource: a table's or bus's name, a queue's URL, a key's id.
    pub fn reference(&self, logical_id: &str) -> Option<&str> {
        self.tables
            .get(logical_id)
            .or_else(|| self.queue_urls.get(logical_id))
            .or_else(|| self.buses.get(logical_id))
            .or_else(|| self.keys.get(logical_id))
            .map(String::as_str)
    }

    /// Every function's own `!Ref` variables resolved (e.g. `ACCESS_TOKEN_KEY_ID`), once each: what a local
    /// stack serving every function from one environment adds to [`Resources::environment`].
    pub fn function_environment(&self, template: &Template) -> Result<Vec<(String, String)>, TemplateError> {
        let mut resolved = BTreeMap::new();
        for function in template.functions()? {
            for (name, value) in function.environment {
                if let EnvValue::Ref(id) = value
                    && let Some(v) = self.reference(&id)
                {
                    resolved.insert(name, v.to_owned());
                }
            }
        }
        Ok(resolved.into_iter().collect())
    }

    /// The template's global environment with every `!Ref` resolved (parameters and secrets are left to the
    /// caller's configuration).
    pub fn environment(&self, template: &Template) -> Vec<(String, String)> {
        template
            .global_environment()
            .into_iter()
            .filter_map(|(name, value)| match value {
                EnvValue::Ref(id) => self.reference(&id).map(|v| (name, v.to_owned())),
                _ => None,
            })
            .collect()
    }

    /// The `AwsResources` the functions read from `TABLE_NAME`, `SYNC_QUEUE_URL`, ...
    pub fn aws_resources(
        &self,
        template: &Template,
    ) -> Result<shared::config::AwsResources, shared::config::ConfigError> {
        let env = self.environment(template);
        shared::config::AwsResources::from_env(&shared::config::Env::from_pairs(
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        ))
    }
}

/// Creates every table, queue (dead-letter queues first) and event bus of `template`, named
/// `{prefix}-{LogicalId}`.
pub async fn provision(
    sdk: &aws_config::SdkConfig,
    template: &Template,
    prefix: &str,
) -> Result<Resources, ProvisionError> {
    let mut resources = Resources::default();
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    for table in template.tables()? {
        let name = format!("{prefix}-{}", table.logical_id);
        let key = |k: &crate::template::KeyElement| {
            KeySchemaElement::builder()
                .attribute_name(&k.attribute)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .expect("key fields set")
        };
        let mut request = dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest);
        for (attribute, kind) in &table.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .expect("attribute fields set"),
            );
        }
        for k in &table.keys {
            request = request.key_schema(key(k));
        }
        for index in &table.indexes {
            let projection = Projection::builder()
                .projection_type(ProjectionType::from(index.projection_type.as_str()))
                .set_non_key_attributes(
                    (!index.non_key_attributes.is_empty()).then(|| index.non_key_attributes.clone()),
                )
                .build();
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(index.keys.iter().map(key).collect()))
                    .projection(projection)
                    .build()
                    .expect("index fields set"),
            );
        }
        request
            .send()
            .await
            .map_err(|e| aws_err(&name, aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        if let Some(attribute) = &table.ttl_attribute {
            dynamodb
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attribute)
                        .enabled(true)
                        .build()
                        .expect("ttl fields set"),
                )
                .send()
                .await
                .map_err(|e| aws_err(&name, aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        }
        resources.tables.insert(table.logical_id, name);
    }

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queues = template.queues()?;
    // Dead-letter queues must exist before the queues that redrive into them.
    queues.sort_by_key(|q| q.dead_letter.is_some());
    for queue in queues {
        let name = format!("{prefix}-{}", queue.logical_id);
        let mut request = sqs.create_queue().queue_name(&name);
        if let Some(seconds) = queue.visibility_timeout {
            request = request.attributes(QueueAttributeName::VisibilityTimeout, seconds.to_string());
        }
        if let Some(seconds) = queue.message_retention_period {
            request = request.attributes(QueueAttributeName::MessageRetentionPeriod, seconds.to_string());
        }
        if let Some((dead_letter, max_receives)) = &queue.dead_letter {
            let arn = resources.queue_arns.get(dead_letter).ok_or_else(|| {
                ProvisionError::Aws(name.clone(), format!("dead-letter queue {dead_letter} not defined"))
            })?;
            let policy = serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receives.to_string() });
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = request
            .send()
            .await
            .map_err(|e| aws_err(&name, aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .queue_url
            .unwrap_or_default();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| aws_err(&name, aws_sdk_sqs::error::DisplayErrorContext(e)))?
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .unwrap_or_default();
        resources.queue_urls.insert(queue.logical_id.clone(), url);
        resources.queue_arns.insert(queue.logical_id, arn);
    }

    let events = aws_sdk_eventbridge::Client::new(sdk);
    for bus in template.event_buses() {
        let name = format!("{prefix}-{bus}");
        events
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .map_err(|e| aws_err(&name, aws_sdk_eventbridge::error::DisplayErrorContext(e)))?;
        resources.buses.insert(bus, name);
    }

    let kms = aws_sdk_kms::Client::new(sdk);
    for key in template.kms_keys() {
        let name = format!("{prefix}-{key}");
        let key_id = kms
            .create_key()
            .description(&name)
            .send()
            .await
            .map_err(|e| aws_err(&name, aws_sdk_kms::error::DisplayErrorContext(e)))?
            .key_metadata
            .map(|m| m.key_id)
            .unwrap_or_default();
        resources.keys.insert(key, key_id);
    }
    Ok(resources)
}

/// Creates the app secret (template parameter `AppSecretName`; in AWS it is created before the first deploy)
/// as `{prefix}-AppSecret` with `values` (keys from [`shared::app_secret::SECRET_KEYS`]). Returns its ARN, for
/// `APP_SECRET_ID`.
pub async fn create_app_secret(
    sdk: &aws_config::SdkConfig,
    prefix: &str,
    values: &[(String, String)],
) -> Result<String, ProvisionError> {
    let name = format!("{prefix}-AppSecret");
    let text = serde_json::Value::Object(
        values
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect(),
    );
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(&name)
        .secret_string(text.to_string())
        .send()
        .await
        .map_err(|e| aws_err(&name, aws_sdk_secretsmanager::error::DisplayErrorContext(e)))?
        .arn
        .ok_or_else(|| ProvisionError::Aws(name, "CreateSecret returned no ARN".into()))
}
