//! Secrets and least privilege (issue 12, item 7): no secret sits in a function's environment, each function
//! may do only what its code does, and a store's BigCommerce access token is stored so that only the functions
//! that call BigCommerce can read it.

use serde_yaml_ng::Value;
use shared::access_token::AccessTokenError;
use shared::bigcommerce::BigCommerceError;
use std::collections::{BTreeMap, BTreeSet};

/// The functions that call BigCommerce with a store's access token (`BigCommerce::store_client`): install (the
/// settings page), shopper (store domains, recovery links), sync (every store read and write-back) and send
/// (cart details). webhooks and sweep never do.
const CALL_BIGCOMMERCE: &[&str] = &["InstallFunction", "ShopperFunction", "SyncFunction", "SendFunction"];

/// The keys of the app secret; none of them may appear as a function's environment variable.
const SECRET_VARIABLES: &[&str] = &[
    "BC_CLIENT_SECRET",
    "MESSAGEMEDIA_API_KEY",
    "MESSAGEMEDIA_API_SECRET",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "SMS_WEBHOOK_TOKEN",
];

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn functions(template: &Value) -> BTreeMap<String, Value> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(id, r)| (id.as_str().unwrap().to_owned(), r["Properties"].clone()))
        .collect()
}

/// A value with its YAML tags written out (`!Sub 'x'` → `!Sub x`), for searching.
fn flat(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => format!("{} {}", tagged.tag, flat(&tagged.value)),
        Value::String(s) => s.clone(),
        Value::Sequence(items) => items.iter().map(flat).collect::<Vec<_>>().join(" "),
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| format!("{} {}", flat(k), flat(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => serde_yaml_ng::to_string(other).unwrap_or_default(),
    }
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Every `Allow` statement of a function's inline policies: (actions, resources written out).
fn statements(function: &Value) -> Vec<(BTreeSet<String>, String)> {
    function["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|policy| policy.get("Statement"))
        .flat_map(|s| s.as_sequence().cloned().unwrap_or_default())
        .filter(|s| s["Effect"].as_str() == Some("Allow"))
        .map(|s| (strings(&s["Action"]).into_iter().collect(), flat(&s["Resource"])))
        .collect()
}

/// The actions of `service` (`dynamodb`, `kms`, ...) a function may take, from every statement.
fn actions(function: &Value, service: &str) -> BTreeSet<String> {
    statements(function)
        .into_iter()
        .flat_map(|(actions, _)| actions)
        .filter(|a| a.starts_with(&format!("{service}:")))
        .collect()
}

/// The SAM policy templates a function uses (`SQSSendMessagePolicy`, ...).
fn policy_templates(function: &Value) -> BTreeSet<String> {
    function["Policies"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_mapping)
        .flat_map(|m| m.keys().filter_map(|k| k.as_str().map(str::to_owned)))
        .filter(|k| k != "Statement" && k != "Version")
        .collect()
}

#[test]
fn no_function_environment_holds_a_secret() {
    let template = template();
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    for (id, function) in functions(&template) {
        let variables = &function["Environment"]["Variables"];
        for scope in [globals, variables] {
            let text = flat(scope);
            assert!(
                !text.contains("resolve:secretsmanager") && !text.contains("resolve:ssm-secure"),
                "{id}: a secret is resolved into the environment: {text}"
            );
            for name in SECRET_VARIABLES {
                assert!(scope.get(name).is_none(), "{id}: {name} is an environment variable");
            }
        }
    }
}

#[test]
fn only_functions_that_need_a_secret_may_read_the_app_secret() {
    let template = template();
    for (id, function) in functions(&template) {
        let needs_secret = id != "SweepFunction";
        let variables = &function["Environment"]["Variables"];
        assert_eq!(
            variables.get("APP_SECRET_ID").is_some(),
            needs_secret,
            "{id}: APP_SECRET_ID"
        );
        let readers: Vec<_> = statements(&function)
            .into_iter()
            .filter(|(actions, _)| actions.iter().any(|a| a.starts_with("secretsmanager:")))
            .collect();
        if needs_secret {
            assert_eq!(readers.len(), 1, "{id}: one statement reads the secret");
            let (actions, resource) = &readers[0];
            assert_eq!(
                actions,
                &BTreeSet::from(["secretsmanager:GetSecretValue".to_owned()]),
                "{id}"
            );
            assert!(
                resource.contains(":secret:${AppSecretName}-"),
                "{id}: only the app secret, not {resource}"
            );
        } else {
            assert!(readers.is_empty(), "{id} reads secrets it does not use");
        }
    }
}

#[test]
fn only_functions_that_call_bigcommerce_may_decrypt_access_tokens() {
    let template = template();
    let key = &template["Resources"]["AccessTokenKey"];
    assert_eq!(key["Type"].as_str(), Some("AWS::KMS::Key"));
    assert_eq!(key["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    for (id, function) in functions(&template) {
        let kms = actions(&function, "kms");
        let expected: BTreeSet<String> = match id.as_str() {
            // The one function that stores tokens (install) seals them; the others only open them.
            "InstallFunction" => ["kms:Decrypt", "kms:Encrypt"].map(str::to_owned).into(),
            id if CALL_BIGCOMMERCE.contains(&id) => ["kms:Decrypt"].map(str::to_owned).into(),
            _ => BTreeSet::new(),
        };
        assert_eq!(kms, expected, "{id}: KMS actions");
        for (actions, resource) in statements(&function) {
            if actions.iter().any(|a| a.starts_with("kms:")) {
                assert_eq!(
                    resource, "!GetAtt AccessTokenKey.Arn",
                    "{id}: KMS on the token key only"
                );
            }
        }
        let variables = &function["Environment"]["Variables"];
        assert_eq!(
            variables.get("ACCESS_TOKEN_KEY_ID").is_some(),
            CALL_BIGCOMMERCE.contains(&id.as_str()),
            "{id}: ACCESS_TOKEN_KEY_ID"
        );
    }
}

#[test]
fn each_function_gets_only_the_table_actions_it_uses() {
    // What each function's code paths call (shared/src/db: get → GetItem, put/put_new/put_action → PutItem,
    // updates → UpdateItem, query_partition/lookup_first/store_list_query → Query, batch_put → BatchWriteItem,
    // batch_get/recovery_days → BatchGetItem, remove_user/forget_sighting → DeleteItem). Transactions need the actions inside.
    let expected: BTreeMap<&str, &[&str]> = BTreeMap::from([
        (
            "InstallFunction",
            &[
                "BatchGetItem",
                "DeleteItem",
                "GetItem",
                "PutItem",
                "Query",
                "UpdateItem",
            ][..],
        ),
        (
            "WebhooksFunction",
            &["DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"][..],
        ),
        ("ShopperFunction", &["GetItem", "PutItem", "Query", "UpdateItem"][..]),
        (
            "SyncFunction",
            &[
                "BatchGetItem",
                "BatchWriteItem",
                "DeleteItem",
                "GetItem",
                "PutItem",
                "Query",
                "UpdateItem",
            ][..],
        ),
        (
            "SweepFunction",
            &["DeleteItem", "GetItem", "PutItem", "Query", "UpdateItem"][..],
        ),
        (
            "SendFunction",
            &["BatchWriteItem", "GetItem", "PutItem", "Query", "UpdateItem"][..],
        ),
    ]);
    let template = template();
    let functions = functions(&template);
    assert_eq!(functions.len(), expected.len());
    for (id, function) in &functions {
        let templates = policy_templates(function);
        assert!(
            !templates.iter().any(|t| t.starts_with("DynamoDB")),
            "{id}: a broad DynamoDB policy template: {templates:?}"
        );
        let dynamodb = actions(function, "dynamodb");
        let wanted: BTreeSet<String> = expected[id.as_str()].iter().map(|a| format!("dynamodb:{a}")).collect();
        assert_eq!(dynamodb, wanted, "{id}: DynamoDB actions");
        assert!(!dynamodb.iter().any(|a| a.contains('*') || a.ends_with("Scan")), "{id}");
        for (actions, resource) in statements(function) {
            if actions.iter().any(|a| a.starts_with("dynamodb:")) {
                assert!(
                    resource.contains("AppTable.Arn") && !resource.contains('*') || resource.contains("/index/*"),
                    "{id}: DynamoDB on the app table only: {resource}"
                );
            }
        }
    }
    // Public entry points delete nothing and read no table in bulk.
    for (id, function) in &functions {
        if id == "ShopperFunction" {
            let dynamodb = actions(function, "dynamodb");
            for forbidden in ["dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchGetItem"] {
                assert!(!dynamodb.contains(forbidden), "shopper may {forbidden}");
            }
        }
    }
}

#[test]
fn each_function_sends_and_publishes_only_where_its_code_does() {
    let template = template();
    let expected: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("InstallFunction", &["SQSSendMessagePolicy"][..]),
        (
            "WebhooksFunction",
            &["EventBridgePutEventsPolicy", "SQSSendMessagePolicy"][..],
        ),
        (
            "ShopperFunction",
            &["EventBridgePutEventsPolicy", "SQSSendMessagePolicy"][..],
        ),
        // Sync publishes no domain events (consent changes it records are published by their writers).
        ("SyncFunction", &["SQSSendMessagePolicy"][..]),
        ("SweepFunction", &["SQSSendMessagePolicy"][..]),
        (
            "SendFunction",
            &["EventBridgePutEventsPolicy", "SQSSendMessagePolicy"][..],
        ),
    ]);
    for (id, function) in functions(&template) {
        let wanted: BTreeSet<String> = expected[id.as_str()].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(policy_templates(&function), wanted, "{id}");
    }
}

/// Only the functions that send bulk sync work (install starts a sync and re-queues failed pages, sync fans out
/// pages) may send to the bulk sync queue, and only the sweep to the sweep shard queue; every function that records consent changes sends write-backs to
/// the live one.
#[test]
fn only_install_and_sync_may_send_to_the_bulk_sync_queue() {
    let template = template();
    let queues_of = |function: &Value| -> BTreeSet<String> {
        function["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .filter_map(|policy| policy.get("SQSSendMessagePolicy"))
            .map(|p| flat(&p["QueueName"]))
            .collect()
    };
    for (id, function) in functions(&template) {
        let queues = queues_of(&function);
        let may_send_bulk = queues.iter().any(|q| q.ends_with(" BulkSyncQueue.QueueName"));
        let sends_bulk = matches!(id.as_str(), "InstallFunction" | "SyncFunction");
        assert_eq!(may_send_bulk, sends_bulk, "{id}: {queues:?}");
        // The sweep's own work: only its fan-out and its workers' hand-ons.
        let may_send_shards = queues.iter().any(|q| q.ends_with(" SweepShardQueue.QueueName"));
        assert_eq!(may_send_shards, id == "SweepFunction", "{id}: {queues:?}");
    }
}

/// Every string in a raw table item, however nested.
fn item_strings(item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>) -> Vec<String> {
    use aws_sdk_dynamodb::types::AttributeValue;
    fn walk(value: &AttributeValue, out: &mut Vec<String>) {
        match value {
            AttributeValue::S(s) => out.push(s.clone()),
            AttributeValue::Ss(items) => out.extend(items.iter().cloned()),
            AttributeValue::B(blob) => out.push(String::from_utf8_lossy(blob.as_ref()).into_owned()),
            AttributeValue::L(items) => items.iter().for_each(|v| walk(v, out)),
            AttributeValue::M(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    item.values().for_each(|v| walk(v, &mut out));
    out
}

async fn raw_store_item(
    app: &integration_tests::TestApp,
    hash: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue;
    aws_sdk_dynamodb::Client::new(&app.aws.sdk)
        .get_item()
        .table_name(app.db().table_name())
        .key("pk", AttributeValue::S(format!("STORE#{hash}")))
        .key("sk", AttributeValue::S("STORE".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the store item exists")
}

#[tokio::test]
async fn a_stored_access_token_cannot_be_read_from_the_table() {
    let app = integration_tests::TestApp::start().await;
    let seeded = app.seed_store("vault1", |_| {}).await;
    let item = raw_store_item(&app, "vault1").await;
    let token = seeded.token.expose();
    for value in item_strings(&item) {
        assert!(!value.contains(token), "the access token is stored in clear");
    }

    // The functions that call BigCommerce open it and use it.
    let store = app.db().get_store(&seeded.store_hash).await.unwrap().unwrap();
    let client = app.sync.bigcommerce.store_client(&store).await.unwrap();
    assert!(client.hooks().await.is_ok());
    // webhooks reads the same record (for its webhook secret) and holds no key to open the token.
    let refused = app.webhooks.bigcommerce.store_client(&store).await.unwrap_err();
    assert!(
        matches!(refused, BigCommerceError::AccessToken(AccessTokenError::NoKey)),
        "{refused}"
    );
    assert!(!refused.is_retryable());
}

#[tokio::test]
async fn a_sealed_token_copied_onto_another_store_does_not_open() {
    let app = integration_tests::TestApp::start().await;
    let victim = app.seed_store("vault2", |_| {}).await;
    let attacker = app.seed_store("vault3", |_| {}).await;
    let stolen = app
        .db()
        .get_store(&victim.store_hash)
        .await
        .unwrap()
        .unwrap()
        .access_token;
    let mut record = app.db().get_store(&attacker.store_hash).await.unwrap().unwrap();
    record.access_token = stolen;
    app.db().put_store(&record).await.unwrap();

    let refused = app.send.bigcommerce.store_client(&record).await.unwrap_err();
    assert!(
        matches!(
            &refused,
            BigCommerceError::AccessToken(AccessTokenError::NotSealedForStore(hash)) if *hash == attacker.store_hash
        ),
        "{refused}"
    );
    // A tampered value is refused the same way, before KMS is asked.
    record.access_token = serde_json::from_value(serde_json::json!("not base64 !")).unwrap();
    assert!(matches!(
        app.send.bigcommerce.store_client(&record).await,
        Err(BigCommerceError::AccessToken(AccessTokenError::NotSealedForStore(_)))
    ));
}

#[tokio::test]
async fn the_token_an_install_receives_is_stored_sealed() {
    let app = integration_tests::TestApp::start().await;
    app.install_app("vault4").await;
    let hash = shared::StoreHash::parse("vault4").unwrap();
    let store = app.db().get_store(&hash).await.unwrap().expect("store saved");
    let token = app.aws.token_key().open(&hash, &store.access_token).await.unwrap();
    assert!(!token.expose().is_empty());
    for value in item_strings(&raw_store_item(&app, "vault4").await) {
        assert!(!value.contains(token.expose()), "the access token is stored in clear");
    }
    // The token it opens to is the one BigCommerce issued: the settings page's calls work with it.
    let client = app.install.bigcommerce.store_client(&store).await.unwrap();
    assert_eq!(
        client.hooks().await.unwrap().len(),
        shared::bigcommerce::WEBHOOK_SCOPES.len()
    );
}

/// The environment `cargo xtask dev` gives the functions, with the secret values in a secret in moto.
async fn environment_with_app_secret(
    aws: &integration_tests::TestAws,
    secret_values: &[(&str, &str)],
) -> shared::config::Env {
    let prefix = integration_tests::unique_prefix();
    let values: Vec<(String, String)> = secret_values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let arn = devstack::provision::create_app_secret(&aws.sdk, &prefix, &values)
        .await
        .unwrap();
    let mut pairs = aws.resources.environment(&aws.template);
    pairs.extend(aws.resources.function_environment(&aws.template).unwrap());
    pairs.extend(
        [
            ("APP_URL", "https://app.example.com"),
            ("BC_CLIENT_ID", "client-id"),
            ("SMS_PROVIDER", "sandbox"),
            ("SANDBOX_SMS_API_URL", "http://127.0.0.1:9"),
            (shared::app_secret::APP_SECRET_ID, arn.as_str()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    shared::config::Env::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

#[tokio::test]
async fn functions_read_their_secrets_from_secrets_manager_at_start_up() {
    let aws = integration_tests::TestAws::new().await;
    let secrets = [
        ("BC_CLIENT_SECRET", "client-secret-from-the-secret"),
        ("SMS_WEBHOOK_TOKEN", "webhook-token-from-the-secret"),
    ];
    let env = environment_with_app_secret(&aws, &secrets).await;
    // Without the secret the functions that need one do not start.
    assert!(install::Deps::from_env(&aws.sdk, &env).is_err());
    assert!(webhooks::Deps::from_env(&aws.sdk, &env).is_err());

    let env = shared::app_secret::load(&aws.sdk, env).await.unwrap();
    let install = install::Deps::from_env(&aws.sdk, &env).unwrap();
    assert_eq!(install.bigcommerce_config.client_secret.expose(), secrets[0].1);
    let webhooks = webhooks::Deps::from_env(&aws.sdk, &env).unwrap();
    assert_eq!(webhooks.bigcommerce_config.client_secret.expose(), secrets[0].1);
    assert_eq!(webhooks.sms_webhook_token.expose(), secrets[1].1);
    for clients in [
        shopper::Deps::from_env(&aws.sdk, &env),
        sync::Deps::from_env(&aws.sdk, &env),
    ] {
        assert_eq!(clients.unwrap().sms_webhook_token.expose(), secrets[1].1);
    }
    assert!(send::Deps::from_env(&aws.sdk, &env).is_ok());
    assert!(sweep::Deps::from_env(&aws.sdk, &env).is_ok());

    // The key named in the environment seals and opens in moto's KMS.
    let store = shared::StoreHash::parse("vault5").unwrap();
    let sealed = install
        .bigcommerce
        .seal_token(&store, &shared::Secret::new("tok_123"))
        .await
        .unwrap();
    assert!(!sealed.as_str().contains("tok_123"));
    let opened = aws.token_key().open(&store, &sealed).await.unwrap();
    assert_eq!(opened.expose(), "tok_123");
}

#[tokio::test]
async fn a_missing_or_malformed_app_secret_stops_the_start() {
    let aws = integration_tests::TestAws::new().await;
    let env = environment_with_app_secret(&aws, &[("BC_CLIENT_SECRETS", "typo")]).await;
    let error = shared::app_secret::load(&aws.sdk, env).await.unwrap_err();
    assert!(
        matches!(error, shared::app_secret::AppSecretError::UnknownKey { .. }),
        "{error}"
    );
    assert!(
        !error.to_string().contains("typo"),
        "the message shows no value: {error}"
    );

    let mut env = environment_with_app_secret(&aws, &[]).await;
    env.set(shared::app_secret::APP_SECRET_ID, "no-such-secret");
    let error = shared::app_secret::load(&aws.sdk, env).await.unwrap_err();
    assert!(
        matches!(error, shared::app_secret::AppSecretError::Read { .. }),
        "{error}"
    );
}
