//! The fault proxy itself, and the functions' SDK policy through it: every kind of fault happens, and the
//! app's writes still land exactly once (the `cargo xtask test` fault run relies on both).

use chrono::Utc;
use devstack::fault_proxy::FaultProxy;
use devstack::moto::app_sdk_config_for;
use integration_tests::{TestAws, moto_url};
use shared::Phone;
use shared::aws::Aws;
use shared::consent::{ConsentEvent, ConsentEventKind, OptOutMethod, Purpose};
use shared::db::{Appended, DeliveryClaim};

#[tokio::test]
async fn the_apps_aws_calls_survive_every_kind_of_fault_and_do_their_work_once() {
    let aws = TestAws::new().await;
    // Sequential calls through a proxy of their own: the seed fixes which requests fail.
    let proxy = FaultProxy::start(&moto_url().await, 0.25, 7).expect("proxy starts");
    let app = Aws::new(&app_sdk_config_for(proxy.url()).await, &aws.aws_resources);
    let now = Utc::now();

    // Conditional puts: each key is new, so each call must say so, even when its first answer was lost.
    for i in 0..40 {
        let key = format!("fault-proxy-{i}");
        assert!(
            app.db
                .first_sighting(&key, now, chrono::Duration::hours(1))
                .await
                .unwrap(),
            "{key}: the first sighting is new ({})",
            proxy.counts()
        );
    }
    // Delivery leases: each claim is taken, marked attempted (the step before an SMS) and finished by its own
    // holder, even when a first answer was lost.
    for i in 0..20 {
        let key = format!("fault-proxy-lease-{i}");
        let claim = app
            .db
            .claim_delivery(&key, now, chrono::Duration::hours(1))
            .await
            .unwrap();
        let DeliveryClaim::Claimed(lease) = claim else {
            panic!("{key}: a new delivery is claimed, not {claim:?} ({})", proxy.counts());
        };
        assert!(
            app.db.attempt_delivery(&lease).await.unwrap(),
            "{key}: its own holder marks it attempted ({})",
            proxy.counts()
        );
        app.db.finish_delivery(&lease).await.unwrap();
        let again = aws
            .db()
            .claim_delivery(&key, now, chrono::Duration::hours(1))
            .await
            .unwrap();
        assert!(matches!(again, DeliveryClaim::Done), "{key}: {again:?}");
    }
    // Transactions: each event is appended once.
    let store = shared::StoreHash::parse("fault1").unwrap();
    let phone = Phone::parse("+12122014567", None).unwrap();
    for i in 0..20 {
        let event = ConsentEvent::new(
            store.clone(),
            phone.clone(),
            Purpose::Marketing,
            now,
            now,
            format!("fault-proxy-event-{i}"),
            ConsentEventKind::OptOut(OptOutMethod::ProviderReported {
                provider: "sandbox".into(),
                code: "test".into(),
            }),
        );
        assert_eq!(app.db.append_consent(&event).await.unwrap(), Appended::New, "event {i}");
    }
    assert_eq!(aws.db().ledger(&store, &phone).await.unwrap().len(), 20);

    let counts = proxy.counts();
    assert!(
        counts.timeouts > 0 && counts.throttles > 0 && counts.server_errors > 0 && counts.lost_replies > 0,
        "every kind of fault happened: {counts}"
    );
}
