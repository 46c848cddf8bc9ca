//! Reads template.yaml, the one definition of the table, queues, event bus, functions, routes, event sources
//! and schedule. Local tooling creates and wires resources from what this returns, so they cannot drift.

use serde_yaml_ng::Value;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {0}: {1}")]
    Read(String, std::io::Error),
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    #[error("template.yaml: {0}")]
    Shape(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyElement {
    pub attribute: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexDef {
    pub name: String,
    pub keys: Vec<KeyElement>,
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    pub logical_id: String,
    /// (name, type) pairs, e.g. ("pk", "S").
    pub attributes: Vec<(String, String)>,
    pub keys: Vec<KeyElement>,
    pub indexes: Vec<IndexDef>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDef {
    pub logical_id: String,
    pub visibility_timeout: Option<i64>,
    pub message_retention_period: Option<i64>,
    /// The dead-letter queue's logical id and the receive count that moves a message there.
    pub dead_letter: Option<(String, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDef {
    Http {
        method: String,
        path: String,
    },
    Sqs {
        queue: String,
        batch_size: i64,
        report_batch_item_failures: bool,
        max_concurrency: Option<i64>,
    },
    Schedule {
        expression: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDef {
    pub logical_id: String,
    /// The workspace member that builds it (`functions/install`).
    pub code_uri: String,
    pub events: Vec<(String, EventDef)>,
    /// Environment variables set on this function only (on top of the global ones).
    pub environment: Vec<(String, EnvValue)>,
}

impl FunctionDef {
    /// The crate (and binary, and cargo-lambda function) name: the last component of `CodeUri`.
    pub fn crate_name(&self) -> &str {
        self.code_uri.rsplit('/').next().unwrap_or(&self.code_uri)
    }
}

/// An environment variable's value in the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    /// `!Ref Resource`: the resource's name (table, bus) or URL (queue).
    Ref(String),
    /// A parameter, secret reference or condition: supplied by the local configuration.
    External,
}

#[derive(Debug, Clone)]
pub struct Template {
    root: Value,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError::Read(path.display().to_string(), e))?;
        Self::parse(&text)
    }

    /// The repository's template.yaml.
    pub fn load_default() -> Result<Self, TemplateError> {
        Self::load(&crate::workspace_root().join("template.yaml"))
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            root: serde_yaml_ng::from_str(text)?,
        })
    }

    fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
    }

    fn resources_of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources()
            .filter(move |(_, v)| v.get("Type").and_then(Value::as_str) == Some(kind))
    }

    pub fn tables(&self) -> Result<Vec<TableDef>, TemplateError> {
        self.resources_of_type("AWS::DynamoDB::Table")
            .map(|(id, resource)| {
                let props = properties(id, resource)?;
                let attributes = seq(props, "AttributeDefinitions")
                    .map(|a| Ok((str_field(a, "AttributeName", id)?, str_field(a, "AttributeType", id)?)))
                    .collect::<Result<_, TemplateError>>()?;
                let indexes = seq(props, "GlobalSecondaryIndexes")
                    .map(|index| {
                        let projection = index.get("Projection");
                        Ok(IndexDef {
                            name: str_field(index, "IndexName", id)?,
                            keys: key_schema(index, id)?,
                            projection_type: projection
                                .and_then(|p| p.get("ProjectionType"))
                                .and_then(Value::as_str)
                                .unwrap_or("ALL")
                                .to_owned(),
                            non_key_attributes: projection
                                .and_then(|p| p.get("NonKeyAttributes"))
                                .and_then(Value::as_sequence)
                                .into_iter()
                                .flatten()
                                .filter_map(|v| v.as_str().map(str::to_owned))
                                .collect(),
                        })
                    })
                    .collect::<Result<_, TemplateError>>()?;
                let ttl = props
                    .get("TimeToLiveSpecification")
                    .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
                    .and_then(|t| t.get("AttributeName"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Ok(TableDef {
                    logical_id: id.to_owned(),
                    attributes,
                    keys: key_schema(props, id)?,
                    indexes,
                    ttl_attribute: ttl,
                })
            })
            .collect()
    }

    pub fn queues(&self) -> Result<Vec<QueueDef>, TemplateError> {
        self.resources_of_type("AWS::SQS::Queue")
            .map(|(id, resource)| {
                let props = resource.get("Properties");
                let int = |name: &str| props.and_then(|p| p.get(name)).and_then(Value::as_i64);
                let dead_letter = match props.and_then(|p| p.get("RedrivePolicy")) {
                    Some(policy) => {
                        let target = policy.get("deadLetterTargetArn").and_then(get_att).ok_or_else(|| {
                            TemplateError::Shape(format!("{id}: deadLetterTargetArn must be !GetAtt Queue.Arn"))
                        })?;
                        let max = policy.get("maxReceiveCount").and_then(Value::as_i64).unwrap_or(5);
                        Some((target.0, max))
                    }
                    None => None,
                };
                Ok(QueueDef {
                    logical_id: id.to_owned(),
                    visibility_timeout: int("VisibilityTimeout"),
                    message_retention_period: int("MessageRetentionPeriod"),
                    dead_letter,
                })
            })
            .collect()
    }

    /// The KMS keys (`AWS::KMS::Key`): the key that seals stores' access tokens.
    pub fn kms_keys(&self) -> Vec<String> {
        self.resources_of_type("AWS::KMS::Key")
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    pub fn event_buses(&self) -> Vec<String> {
        self.resources_of_type("AWS::Events::EventBus")
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    pub fn functions(&self) -> Result<Vec<FunctionDef>, TemplateError> {
        self.resources_of_type("AWS::Serverless::Function")
            .map(|(id, resource)| {
                let props = properties(id, resource)?;
                let code_uri = str_field(props, "CodeUri", id)?;
                let events = props
                    .get("Events")
                    .and_then(Value::as_mapping)
                    .into_iter()
                    .flatten()
                    .map(|(name, event)| {
                        let name = name.as_str().unwrap_or_default().to_owned();
                        let kind = event.get("Type").and_then(Value::as_str).unwrap_or_default();
                        let p = event.get("Properties").unwrap_or(&Value::Null);
                        let def = match kind {
                            "HttpApi" => EventDef::Http {
                                method: str_field(p, "Method", id)?,
                                path: str_field(p, "Path", id)?,
                            },
                            "SQS" => EventDef::Sqs {
                                queue: p.get("Queue").and_then(get_att).map(|(q, _)| q).ok_or_else(|| {
                                    TemplateError::Shape(format!("{id}.{name}: Queue must be !GetAtt Queue.Arn"))
                                })?,
                                batch_size: p.get("BatchSize").and_then(Value::as_i64).unwrap_or(10),
                                report_batch_item_failures: p
                                    .get("FunctionResponseTypes")
                                    .and_then(Value::as_sequence)
                                    .is_some_and(|types| {
                                        types.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                                    }),
                                max_concurrency: p
                                    .get("ScalingConfig")
                                    .and_then(|s| s.get("MaximumConcurrency"))
                                    .and_then(Value::as_i64),
                            },
                            "Schedule" => EventDef::Schedule {
                                expression: str_field(p, "Schedule", id)?,
                            },
                            other => {
                                return Err(TemplateError::Shape(format!(
                                    "{id}.{name}: unsupported event type {other}"
                                )));
                            }
                        };
                        Ok((name, def))
                    })
                    .collect::<Result<_, TemplateError>>()?;
                let environment = env_vars(props.get("Environment"));
                Ok(FunctionDef {
                    logical_id: id.to_owned(),
                    code_uri,
                    events,
                    environment,
                })
            })
            .collect()
    }

    /// Environment variables every function gets (`Globals.Function.Environment`).
    pub fn global_environment(&self) -> Vec<(String, EnvValue)> {
        env_vars(
            self.root
                .get("Globals")
                .and_then(|g| g.get("Function"))
                .and_then(|f| f.get("Environment")),
        )
    }
}

fn properties<'a>(id: &str, resource: &'a Value) -> Result<&'a Value, TemplateError> {
    resource
        .get("Properties")
        .ok_or_else(|| TemplateError::Shape(format!("{id} has no Properties")))
}

fn seq<'a>(value: &'a Value, name: &str) -> impl Iterator<Item = &'a Value> {
    value.get(name).and_then(Value::as_sequence).into_iter().flatten()
}

fn str_field(value: &Value, name: &str, context: &str) -> Result<String, TemplateError> {
    value
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| TemplateError::Shape(format!("{context}: {name} missing or not a string")))
}

fn key_schema(value: &Value, context: &str) -> Result<Vec<KeyElement>, TemplateError> {
    seq(value, "KeySchema")
        .map(|k| {
            Ok(KeyElement {
                attribute: str_field(k, "AttributeName", context)?,
                key_type: str_field(k, "KeyType", context)?,
            })
        })
        .collect()
}

fn tagged<'a>(value: &'a Value, tag: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == tag => Some(&tagged.value),
        _ => None,
    }
}

/// `!GetAtt Resource.Attribute` → (Resource, Attribute).
fn get_att(value: &Value) -> Option<(String, String)> {
    let target = tagged(value, "GetAtt")?.as_str()?;
    let (resource, attribute) = target.split_once('.')?;
    Some((resource.to_owned(), attribute.to_owned()))
}

fn env_vars(environment: Option<&Value>) -> Vec<(String, EnvValue)> {
    environment
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| {
            let name = name.as_str()?.to_owned();
            let value = match value {
                Value::String(literal) => EnvValue::Literal(literal.clone()),
                other => match tagged(other, "Ref").and_then(Value::as_str) {
                    Some(resource) => EnvValue::Ref(resource.to_owned()),
                    None => EnvValue::External,
                },
            };
            Some((name, value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_repository_template() {
        let template = Template::load_default().unwrap();
        let tables = template.tables().unwrap();
        assert_eq!(tables.len(), 1);
        let table = &tables[0];
        assert_eq!(
            table.keys.iter().map(|k| k.attribute.as_str()).collect::<Vec<_>>(),
            ["pk", "sk"]
        );
        let index_names: Vec<_> = table.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            index_names,
            [
                shared::db::keys::LOOKUP_INDEX,
                shared::db::keys::STORE_LISTS_INDEX,
                shared::db::keys::DUE_CARTS_INDEX
            ]
        );
        assert_eq!(table.ttl_attribute.as_deref(), Some(shared::db::keys::TTL_ATTRIBUTE));

        let queues = template.queues().unwrap();
        let sync = queues.iter().find(|q| q.logical_id == "SyncQueue").unwrap();
        assert_eq!(
            sync.dead_letter.as_ref().map(|d| d.0.as_str()),
            Some("SyncDeadLetterQueue")
        );
        let bulk = queues.iter().find(|q| q.logical_id == "BulkSyncQueue").unwrap();
        assert_eq!(
            bulk.dead_letter.as_ref().map(|d| d.0.as_str()),
            Some("BulkSyncDeadLetterQueue")
        );

        let functions = template.functions().unwrap();
        let names: Vec<_> = functions.iter().map(FunctionDef::crate_name).collect();
        assert_eq!(names.len(), 6, "{names:?}");
        let send = functions.iter().find(|f| f.crate_name() == "send").unwrap();
        assert!(send.events.iter().any(
            |(_, e)| matches!(e, EventDef::Sqs { queue, report_batch_item_failures: true, .. } if queue == "SendQueue")
        ));

        // Live and bulk sync work each have their own concurrency: bulk never takes live's slots.
        let sync = functions.iter().find(|f| f.crate_name() == "sync").unwrap();
        for wanted in ["SyncQueue", "BulkSyncQueue"] {
            assert!(sync.events.iter().any(|(_, e)| matches!(
                e,
                EventDef::Sqs { queue, max_concurrency: Some(2), .. } if queue == wanted
            )));
        }

        let globals = template.global_environment();
        assert!(globals.contains(&("TABLE_NAME".to_owned(), EnvValue::Ref("AppTable".to_owned()))));
    }

    #[test]
    fn rejects_an_unknown_event_type() {
        let template = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: functions/x\n      Events:\n        E: { Type: Kinesis, Properties: {} }\n",
        )
        .unwrap();
        assert!(matches!(template.functions(), Err(TemplateError::Shape(_))));
    }
}
