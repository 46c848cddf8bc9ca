//! template.yaml, functions/ and events/ describe the same six functions, and every sample event goes
//! through its function's real entry point.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use devstack::invoke::{SharedFunction, handler_fn, http_fn};
use devstack::template::{EventDef, Template};
use integration_tests::TestAws;
use serde_json::Value;
use shared::config::{AppUrl, BigCommerceConfig};
use shared::messages::{SendJob, SyncMessage};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn sample_events(crate_name: &str) -> Vec<(String, Value)> {
    let dir = root().join("events").join(crate_name);
    let mut events: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("events/{crate_name} must exist: {e}"))
        .map(|entry| {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0));
    events
}

#[test]
fn every_function_has_a_crate_and_sample_events() {
    let template = Template::load_default().unwrap();
    let in_template: BTreeSet<String> = template
        .functions()
        .unwrap()
        .iter()
        .map(|f| f.crate_name().to_owned())
        .collect();
    let in_functions: BTreeSet<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let in_events: BTreeSet<String> = std::fs::read_dir(root().join("events"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        in_template, in_functions,
        "template.yaml functions and functions/ crates differ"
    );
    assert_eq!(
        in_template, in_events,
        "template.yaml functions and events/ folders differ"
    );
    let workspace = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for function in template.functions().unwrap() {
        assert!(
            workspace.contains(&format!("\"{}\"", function.code_uri)),
            "{} is not a workspace member",
            function.code_uri
        );
        assert!(
            !sample_events(function.crate_name()).is_empty(),
            "events/{} is empty",
            function.crate_name()
        );
    }
}

#[test]
fn every_sample_event_deserializes_into_its_function_event_type() {
    let template = Template::load_default().unwrap();
    for function in template.functions().unwrap() {
        for (name, event) in sample_events(function.crate_name()) {
            let context = format!("events/{}/{name}", function.crate_name());
            match function.events.first().map(|(_, e)| e) {
                Some(EventDef::Http { .. }) => {
                    let request = lambda_http::request::from_str(&event.to_string())
                        .unwrap_or_else(|e| panic!("{context}: not an HTTP API event: {e}"));
                    let route = event["routeKey"].as_str().unwrap();
                    let declared = function.events.iter().any(
                        |(_, e)| matches!(e, EventDef::Http { method, path } if format!("{method} {path}") == route),
                    );
                    assert!(
                        declared,
                        "{context}: route {route} is not declared for {}",
                        function.logical_id
                    );
                    assert_eq!(request.uri().path(), event["rawPath"].as_str().unwrap());
                }
                Some(EventDef::Sqs { .. }) => {
                    let sqs: SqsEvent = serde_json::from_value(event).unwrap_or_else(|e| panic!("{context}: {e}"));
                    for record in sqs.records {
                        let body = record.body.unwrap();
                        match function.crate_name() {
                            "sync" => drop(
                                serde_json::from_str::<SyncMessage>(&body).unwrap_or_else(|e| panic!("{context}: {e}")),
                            ),
                            "send" => drop(
                                serde_json::from_str::<SendJob>(&body).unwrap_or_else(|e| panic!("{context}: {e}")),
                            ),
                            other => panic!("unexpected SQS consumer {other}"),
                        }
                    }
                }
                Some(EventDef::Schedule { .. }) => {
                    let scheduled: EventBridgeEvent =
                        serde_json::from_value(event).unwrap_or_else(|e| panic!("{context}: {e}"));
                    assert_eq!(scheduled.detail_type, "Scheduled Event");
                }
                None => panic!("{} has no events", function.logical_id),
            }
        }
    }
}

#[tokio::test]
async fn every_function_runs_its_sample_events_through_its_entry_point() {
    let env = TestAws::new().await;
    let clock: Arc<dyn shared::Clock> =
        Arc::new(shared::ManualClock::new(integration_tests::at("2026-11-25T14:00:00Z")));
    let bigcommerce = BigCommerceConfig {
        client_id: "sample-client-id".into(),
        client_secret: "sample-client-secret".into(),
        api_url: "http://127.0.0.1:9".into(),
        login_url: "http://127.0.0.1:9".into(),
    };
    let app_url = AppUrl::new("https://app.example.com");
    let install = Arc::new(install::Deps {
        aws: env.aws.clone(),
        bigcommerce: bigcommerce.clone(),
        app_url: app_url.clone(),
        clock: clock.clone(),
    });
    let webhooks = Arc::new(webhooks::Deps {
        aws: env.aws.clone(),
        bigcommerce,
        clock: clock.clone(),
    });
    let shopper = Arc::new(shopper::Deps {
        aws: env.aws.clone(),
        app_url,
        clock: clock.clone(),
    });
    let sync = Arc::new(sync::Deps {
        aws: env.aws.clone(),
        clock: clock.clone(),
    });
    let sweep = Arc::new(sweep::Deps {
        aws: env.aws.clone(),
        clock: clock.clone(),
    });
    let send = Arc::new(send::Deps {
        aws: env.aws.clone(),
        clock: clock.clone(),
    });
    let functions: Vec<(&str, SharedFunction)> = vec![
        (
            "install",
            http_fn(move |r| {
                let d = install.clone();
                async move { install::handler(&d, r).await }
            }),
        ),
        (
            "webhooks",
            http_fn(move |r| {
                let d = webhooks.clone();
                async move { webhooks::handler(&d, r).await }
            }),
        ),
        (
            "shopper",
            http_fn(move |r| {
                let d = shopper.clone();
                async move { shopper::handler(&d, r).await }
            }),
        ),
        (
            "sync",
            handler_fn(move |e| {
                let d = sync.clone();
                async move { sync::handler(&d, e).await }
            }),
        ),
        (
            "sweep",
            handler_fn(move |e| {
                let d = sweep.clone();
                async move { sweep::handler(&d, e).await }
            }),
        ),
        (
            "send",
            handler_fn(move |e| {
                let d = send.clone();
                async move { send::handler(&d, e).await }
            }),
        ),
    ];
    for (crate_name, function) in functions {
        for (name, event) in sample_events(crate_name) {
            let response = function
                .invoke(event)
                .await
                .unwrap_or_else(|e| panic!("events/{crate_name}/{name}: {e}"));
            if let Some(status) = response.get("statusCode") {
                let status = status.as_u64().unwrap();
                assert!(
                    (200..600).contains(&status) && status != 500,
                    "events/{crate_name}/{name}: status {status}"
                );
            } else if crate_name == "sweep" {
                assert!(
                    response.get("due_found").is_some(),
                    "events/{crate_name}/{name}: {response}"
                );
            } else {
                assert!(
                    response.get("batchItemFailures").is_some(),
                    "events/{crate_name}/{name}: {response}"
                );
            }
        }
    }
}
