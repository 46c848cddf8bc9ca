//! Creates the template's table, queues and event bus in the emulator, under a name prefix so test runs
//! and stacks never share state.

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
}

impl Resources {
    /// What `!Ref Logical` means for a resource: a table's or bus's name, a queue's URL.
    pub fn reference(&self, logical_id: &str) -> Option<&str> {
        self.tables
            .get(logical_id)
            .or_else(|| self.queue_urls.get(logical_id))
            .or_else(|| self.buses.get(logical_id))
            .map(String::as_str)
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
    Ok(resources)
}
