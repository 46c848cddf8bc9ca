//! template.yaml, functions/ and events/ describe the same six functions, and every sample event goes
//! through its function's real entry point.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use devstack::template::{EventDef, Template};
use integration_tests::TestApp;
use serde_json::Value;
use shared::messages::{SendJob, SyncMessage};
use std::collections::BTreeSet;
use std::path::Path;

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
    let app = TestApp::start().await;
    for (crate_name, function) in &app.functions {
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
    assert_eq!(app.functions.len(), 6);
}

#[tokio::test]
async fn the_http_api_serves_the_template_routes_over_http() {
    let app = TestApp::start().await;
    // A declared route reaches its function (an incomplete install link is the function's own 400 page).
    let response = app.http.get(app.url("/auth?code=abc")).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("missing scope, context"));
    // Undeclared routes and methods never reach a function, as in API Gateway.
    let response = app.http.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["message"], "Not Found");
    assert_eq!(app.http.delete(app.url("/auth")).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_seeded_store_is_installed_connected_and_hooked() {
    let app = TestApp::start().await;
    let seeded = app
        .seed_store("seed01", |s| s.sender_id = Some("+12125550100".into()))
        .await;
    app.approve_sender(&seeded, shared::model::SenderSharing::Exclusive)
        .await;
    let (store, settings) = app.db().store_with_settings(&seeded.store_hash).await.unwrap().unwrap();
    assert!(store.is_installed());
    assert_eq!(settings.unwrap().version, 1);
    let hooks = app.bigcommerce.hooks("seed01");
    assert_eq!(hooks.len(), shared::bigcommerce::WEBHOOK_SCOPES.len());
    assert!(
        hooks
            .iter()
            .all(|h| h.destination == app.url(shared::bigcommerce::WEBHOOK_PATH))
    );
    assert_eq!(
        app.db().stores_using_sender("+12125550100").await.unwrap(),
        vec![seeded.store_hash]
    );
}

/// docs/threat-model.md names every HTTP route of the template (as "`METHOD /path`") and every function, so a
/// route added without its row fails here.
#[test]
fn the_threat_model_covers_every_route_and_function_of_the_template() {
    let threat_model = std::fs::read_to_string(root().join("docs/threat-model.md")).expect("docs/threat-model.md");
    let template = Template::load_default().unwrap();
    let mut missing = Vec::new();
    for function in template.functions().unwrap() {
        for (_, event) in &function.events {
            if let EventDef::Http { method, path } = event {
                let route = format!("`{method} {path}`");
                if !threat_model.contains(&route) {
                    missing.push(route);
                }
            }
        }
        if !function.events.iter().all(|(_, e)| matches!(e, EventDef::Http { .. }))
            && !threat_model.contains(&format!("| `{}` (", function.crate_name()))
        {
            missing.push(format!(
                "the {} function's queue or schedule row",
                function.crate_name()
            ));
        }
    }
    assert!(missing.is_empty(), "docs/threat-model.md lacks: {missing:?}");
}
