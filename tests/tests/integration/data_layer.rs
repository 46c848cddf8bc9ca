//! The DynamoDB repository against moto: claims, batches, the due index, de-duplication, ledgers, jobs.

use chrono::Duration;
use integration_tests::{TestAws, at, builders};
use rust_decimal::Decimal;
use shared::consent::{ConsentEvent, ConsentEventKind, OptOutMethod, Purpose};
use shared::db::keys::{DueShard, SweepWatermark};
use shared::db::{Appended, ClaimOutcome, DbError, PageCounts};
use shared::model::*;
use shared::recovery::RecoveredOrder;
use shared::{Phone, StoreHash};

fn store() -> StoreHash {
    StoreHash::parse("g5cd38").unwrap()
}

fn phone(n: u32) -> Phone {
    // 212 (New York) numbers with valid exchange 201.
    Phone::parse(&format!("212201{n:04}"), Some("US")).unwrap()
}

fn contact(n: u32, group: &str) -> Contact {
    let now = at("2026-11-25T14:00:00Z");
    Contact {
        first_name: Some(format!("Shopper{n}")),
        last_name: Some("Example".into()),
        email: Some(format!("shopper{n}@example.com")),
        customer_id: Some(u64::from(n) + 1),
        groups: vec![group.to_owned()],
        subscribed_in_bigcommerce: Some(n.is_multiple_of(2)),
        labels: vec![contact::BIGCOMMERCE_LABEL.to_owned()],
        ..builders::contact(&store(), &phone(n), ContactSource::BulkSync, now)
    }
}

fn cart(id: &str, due: Option<&str>) -> Cart {
    let now = at("2026-11-25T14:00:00Z");
    Cart {
        store_hash: store(),
        cart_id: id.to_owned(),
        customer_id: 0,
        channel_id: 1,
        email: None,
        first_name: None,
        phone: Some(phone(1)),
        country_code: Some("US".into()),
        state_code: Some("NY".into()),
        line_items: vec![LineItem {
            product_id: 1,
            variant_id: None,
            name: "Canvas tote".into(),
            quantity: 1,
            price: Decimal::new(2500, 2),
            image_url: None,
        }],
        amount: Decimal::new(2500, 2),
        currency: "USD".into(),
        status: CartStatus::Active,
        last_activity_at: now,
        reminders_sent: 0,
        next_due_at: due.map(at),
        converted_order_id: None,
        updated_at: now,
    }
}

fn send_record(cart_id: &str, step: u8) -> SendRecord {
    SendRecord {
        step,
        ledger_event_id: "evt-1".into(),
        body: "Hi".into(),
        ..builders::claimed_send(&store(), cart_id, &phone(1), at("2026-11-25T14:30:00Z"))
    }
}

#[tokio::test]
async fn a_duplicate_send_claim_is_rejected() {
    let env = TestAws::new().await;
    let record = send_record("cart-1", 1);
    assert_eq!(env.db().claim_send(&record).await.unwrap(), ClaimOutcome::Claimed);
    // A retry, an overlapping sweep, a redelivered job: all lose.
    let mut again = send_record("cart-1", 1);
    again.claimed_at = at("2026-11-25T14:31:00Z");
    assert_eq!(env.db().claim_send(&again).await.unwrap(), ClaimOutcome::AlreadyClaimed);
    // Another step of the same cart is a different send.
    assert_eq!(
        env.db().claim_send(&send_record("cart-1", 2)).await.unwrap(),
        ClaimOutcome::Claimed
    );

    // The losing claim wrote nothing: one record per step, one sent marker per winning claim.
    let stored = env.db().get_send(&store(), "cart-1", 1).await.unwrap().unwrap();
    assert_eq!(stored.claimed_at, record.claimed_at);
    let snapshot = env.db().phone_snapshot(&store(), &phone(1)).await.unwrap();
    assert_eq!(snapshot.sends.len(), 2);

    // Only a claimed send can be updated; the provider id then finds it.
    env.db()
        .record_send_sent(
            &store(),
            "cart-1",
            1,
            "messagemedia",
            "mm-123",
            at("2026-11-25T14:30:01Z"),
        )
        .await
        .unwrap();
    let found = env
        .db()
        .send_by_provider_message("messagemedia", "mm-123")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, SendStatus::Sent);
    assert!(matches!(
        env.db()
            .record_send_sent(
                &store(),
                "never-claimed",
                1,
                "messagemedia",
                "mm-9",
                at("2026-11-25T14:30:01Z")
            )
            .await,
        Err(DbError::Conflict(_))
    ));
    // A sent reminder is not sent again, nor turned into a failed one by a stale writer.
    assert!(matches!(
        env.db()
            .record_send_sent(
                &store(),
                "cart-1",
                1,
                "messagemedia",
                "mm-124",
                at("2026-11-25T14:30:02Z")
            )
            .await,
        Err(DbError::Conflict(_))
    ));
    assert!(
        !env.db()
            .record_send_failed(&store(), "cart-1", 1, "late")
            .await
            .unwrap()
    );
    let settled = env.db().get_send(&store(), "cart-1", 1).await.unwrap().unwrap();
    assert_eq!(
        (settled.status, settled.provider_message_id.as_deref()),
        (SendStatus::Sent, Some("mm-123"))
    );
}

/// A claimed and sent reminder, as the delivery-report path reads it.
async fn sent_send(env: &TestAws, cart_id: &str) -> SendRecord {
    let record = send_record(cart_id, 1);
    env.db().claim_send(&record).await.unwrap();
    env.db()
        .record_send_sent(
            &store(),
            cart_id,
            1,
            "messagemedia",
            &format!("mm-{cart_id}"),
            at("2026-11-25T14:30:01Z"),
        )
        .await
        .unwrap();
    env.db().get_send(&store(), cart_id, 1).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_delivery_report_from_a_stale_read_keeps_a_click_written_meanwhile() {
    let env = TestAws::new().await;
    let stale = sent_send(&env, "cart-click").await;
    // The shopper clicks between the report's read and its write.
    let clicked = at("2026-11-25T14:35:00Z");
    assert!(env.db().record_click(&store(), "cart-click", 1, clicked).await.unwrap());

    let mut delivered = stale.clone();
    delivered.status = SendStatus::Delivered;
    delivered.delivered_at = Some(at("2026-11-25T14:36:00Z"));
    assert!(env.db().record_delivery_report(stale.status, &delivered).await.unwrap());

    let stored = env.db().get_send(&store(), "cart-click", 1).await.unwrap().unwrap();
    assert_eq!(stored.status, SendStatus::Delivered);
    assert_eq!(stored.clicked_at, Some(clicked));

    // A failure report judged against the same stale `sent` status loses: the delivery stands.
    let mut failed = stale.clone();
    failed.status = SendStatus::Failed;
    failed.error = Some("not delivered".into());
    assert!(!env.db().record_delivery_report(stale.status, &failed).await.unwrap());
    assert_eq!(
        env.db().get_send(&store(), "cart-click", 1).await.unwrap().unwrap(),
        stored
    );
}

#[tokio::test]
async fn a_delivery_report_from_a_stale_read_keeps_a_recovered_order_credited_meanwhile() {
    let env = TestAws::new().await;
    let stale = sent_send(&env, "cart-order").await;
    // The order is attributed between the report's read and its write.
    let amount = Decimal::new(12_950, 2);
    assert!(
        env.db()
            .record_recovered_order(
                &store(),
                "cart-order",
                1,
                &RecoveredOrder {
                    order_id: 1001,
                    amount,
                    currency: "USD".into(),
                    coupon: None,
                    at: chrono::Utc::now(),
                },
                "holder",
            )
            .await
            .unwrap()
    );

    let mut failed = stale.clone();
    failed.status = SendStatus::Failed;
    failed.error = Some("not delivered".into());
    assert!(env.db().record_delivery_report(stale.status, &failed).await.unwrap());

    let stored = env.db().get_send(&store(), "cart-order", 1).await.unwrap().unwrap();
    assert_eq!(stored.status, SendStatus::Failed);
    assert_eq!(stored.recovered_order_id, Some(1001));
    assert_eq!(stored.recovered_amount, Some(amount));
}

#[tokio::test]
async fn batch_write_of_1000_contacts_lands_every_item() {
    let env = TestAws::new().await;
    let contacts: Vec<Contact> = (0..1000)
        .map(|n| contact(n, if n.is_multiple_of(3) { "VIP" } else { "Retail" }))
        .collect();
    env.db().put_contacts(&contacts).await.unwrap();

    let all = env.db().store_contacts(&store()).await.unwrap();
    assert_eq!(all.len(), 1000);
    let phones: Vec<Phone> = contacts.iter().map(|c| c.phone.clone()).collect();
    let read_back = env.db().get_contacts(&store(), &phones).await.unwrap();
    assert_eq!(read_back.len(), 1000);
    assert!(
        read_back.iter().all(|c| contacts.contains(c)),
        "items read back equal the items written"
    );

    let vips = env.db().contacts_in_group(&store(), "VIP").await.unwrap();
    assert_eq!(vips.len(), 334);
    assert!(vips.iter().all(|c| c.groups == ["VIP"]));
    let by_customer = env.db().contact_by_customer(&store(), 43).await.unwrap().unwrap();
    assert_eq!(by_customer.phone, phone(42));

    // Moving a contact to another group takes it out of the old group's list.
    let mut moved = contact(0, "Retail");
    moved.updated_at = at("2026-11-25T15:00:00Z");
    env.db().put_contact(&moved).await.unwrap();
    assert_eq!(env.db().contacts_in_group(&store(), "VIP").await.unwrap().len(), 333);
}

#[tokio::test]
async fn the_due_index_returns_only_due_carts_in_time_order() {
    let env = TestAws::new().await;
    let now = at("2026-11-25T14:00:00Z");
    let carts = vec![
        cart("due-late", Some("2026-11-25T13:59:59Z")),
        cart("due-early", Some("2026-11-25T12:10:00Z")),
        cart("due-now", Some("2026-11-25T14:00:00Z")),
        cart("not-yet", Some("2026-11-25T14:00:01Z")),
        cart("tomorrow", Some("2026-11-26T09:00:00Z")),
        cart("no-sequence", None),
    ];
    env.db().put_carts(&carts, at("2026-11-25T12:00:00Z")).await.unwrap();
    // Every cart with a phone is listed under it (an opt-out ends their reminders).
    let mut of_phone = env.db().carts_of_phone(&store(), &phone(1)).await.unwrap();
    of_phone.sort();
    assert_eq!(
        of_phone,
        ["due-early", "due-late", "due-now", "no-sequence", "not-yet", "tomorrow"]
    );

    let page = env.db().due_carts(at("2026-11-25T12:00:00Z"), now, 100).await.unwrap();
    let ids: Vec<&str> = page.carts.iter().map(|c| c.cart_id.as_str()).collect();
    assert_eq!(ids, ["due-early", "due-late", "due-now"]);
    // Three hourly buckets (12h, 13h, 14h) times the shards: cost follows the buckets read, not the table.
    assert_eq!(page.queries, 3 * shared::db::keys::DUE_SHARDS);

    // Taking a due cart is a compare-and-set on its due time: the second of two overlapping sweeps loses.
    let mut taken = carts[1].clone();
    taken.next_due_at = Some(now + Duration::minutes(15));
    assert!(
        env.db()
            .put_cart_if_due(&taken, at("2026-11-25T12:10:00Z"), now)
            .await
            .unwrap()
    );
    assert!(
        !env.db()
            .put_cart_if_due(&taken, at("2026-11-25T12:10:00Z"), now)
            .await
            .unwrap()
    );
    let page = env.db().due_carts(at("2026-11-25T12:00:00Z"), now, 100).await.unwrap();
    assert!(page.carts.iter().all(|c| c.cart_id != "due-early"));

    // A cart whose sequence ended leaves the index.
    let mut ended = carts[0].clone();
    ended.next_due_at = None;
    ended.status = CartStatus::Converted;
    env.db().put_cart(&ended, now).await.unwrap();
    let page = env.db().due_carts(at("2026-11-25T12:00:00Z"), now, 100).await.unwrap();
    assert_eq!(
        page.carts.iter().map(|c| c.cart_id.as_str()).collect::<Vec<_>>(),
        ["due-now"]
    );
}

#[tokio::test]
async fn a_cart_due_in_the_past_is_filed_where_the_sweep_still_looks() {
    let env = TestAws::new().await;
    let now = at("2026-11-25T14:20:00Z");
    env.db()
        .advance_sweep_watermark(at("2026-11-25T13:00:00Z"), &[], now)
        .await
        .unwrap();
    // A late webhook: the reminder was due two hours ago.
    env.db()
        .put_cart(&cart("late", Some("2026-11-25T12:15:00Z")), now)
        .await
        .unwrap();
    let from = env.db().sweep_watermark().await.unwrap().unwrap().from;
    let page = env.db().due_carts(from, now, 10).await.unwrap();
    assert_eq!(page.carts.len(), 1);
    assert_eq!(page.carts[0].due_at, at("2026-11-25T12:15:00Z"));

    // The watermark only moves forward, and never closer than an hour to now; its held list comes back as
    // written, and a write that moves it replaces the list.
    let held = |bucket: &str, shard| DueShard {
        bucket: bucket.to_owned(),
        shard,
    };
    let newer = vec![held("2026112509", 3), held("2026112511", 0)];
    env.db()
        .advance_sweep_watermark(at("2026-11-25T14:00:00Z"), &newer, now)
        .await
        .unwrap();
    let expected = SweepWatermark {
        from: at("2026-11-25T13:20:00Z"),
        held: newer,
    };
    assert_eq!(env.db().sweep_watermark().await.unwrap(), Some(expected.clone()));
    env.db()
        .advance_sweep_watermark(at("2026-11-25T10:00:00Z"), &[held("2026112508", 1)], now)
        .await
        .unwrap();
    assert_eq!(
        env.db().sweep_watermark().await.unwrap(),
        Some(expected),
        "an older fan-out's write changes nothing"
    );
    env.db().advance_sweep_watermark(now, &[], now).await.unwrap();
    assert_eq!(
        env.db().sweep_watermark().await.unwrap(),
        Some(SweepWatermark {
            from: at("2026-11-25T13:20:00Z"),
            held: Vec::new(),
        }),
        "the last of two at the same time wins"
    );
}

#[tokio::test]
async fn a_webhook_hash_is_accepted_once() {
    let env = TestAws::new().await;
    let now = at("2026-11-25T14:00:00Z");
    let hash = "bc:g5cd38:352e4afc6dd3fc85ea26bfdf3f91852604d57528";
    assert!(env.db().first_sighting(hash, now, Duration::days(3)).await.unwrap());
    assert!(
        !env.db()
            .first_sighting(hash, now + Duration::seconds(61), Duration::days(3))
            .await
            .unwrap()
    );
    assert!(
        env.db()
            .first_sighting("bc:g5cd38:other", now, Duration::days(3))
            .await
            .unwrap()
    );
    // Forgetting (when enqueueing failed) lets the retry through.
    env.db().forget_sighting(hash).await.unwrap();
    assert!(env.db().first_sighting(hash, now, Duration::days(3)).await.unwrap());
}

fn event(key: &str, occurred: &str, kind: ConsentEventKind) -> ConsentEvent {
    ConsentEvent::new(
        store(),
        phone(7),
        Purpose::Marketing,
        at(occurred),
        at("2026-11-25T14:00:00Z"),
        key,
        kind,
    )
}

#[tokio::test]
async fn consent_events_are_appended_once_and_read_in_time_order() {
    let env = TestAws::new().await;
    let opt_in = event(
        "keyword:r1",
        "2026-11-20T10:00:00Z",
        ConsentEventKind::KeywordOptIn {
            keyword: shared::consent::OptInKeyword::Start,
            raw_text: "Start".into(),
            message_id: Some("r1".into()),
        },
    );
    let opt_out = event(
        "keyword:r2",
        "2026-11-24T10:00:00Z",
        ConsentEventKind::OptOut(OptOutMethod::Keyword {
            raw_text: "stop pls".into(),
            message_id: Some("r2".into()),
        }),
    );
    assert_eq!(env.db().append_consent(&opt_out).await.unwrap(), Appended::New);
    assert_eq!(env.db().append_consent(&opt_in).await.unwrap(), Appended::New);
    // The same reply delivered again (with a new event id) appends nothing.
    let again = event("keyword:r2", "2026-11-24T10:00:00Z", opt_out.kind.clone());
    assert_eq!(
        env.db().append_consent(&again).await.unwrap(),
        Appended::AlreadyRecorded
    );

    let ledger = env.db().ledger(&store(), &phone(7)).await.unwrap();
    assert_eq!(ledger, vec![opt_in.clone(), opt_out.clone()]);

    // Bulk appends skip what is already recorded and write the rest.
    let imports: Vec<ConsentEvent> = (0..60)
        .map(|i| {
            event(
                &format!("import:{i}"),
                "2026-11-25T09:00:00Z",
                ConsentEventKind::ImportDefault {
                    sync_job_id: "j1".into(),
                },
            )
        })
        .chain([again])
        .collect();
    assert_eq!(env.db().append_consents(&imports).await.unwrap(), 60);
    assert_eq!(env.db().append_consents(&imports).await.unwrap(), 0);
    let snapshot = env.db().phone_snapshot(&store(), &phone(7)).await.unwrap();
    assert_eq!(snapshot.ledger.len(), 62);
    assert!(snapshot.ledger.windows(2).all(|w| w[0].occurred_at <= w[1].occurred_at));
}

#[tokio::test]
async fn settings_versions_are_kept_and_concurrent_saves_conflict() {
    let env = TestAws::new().await;
    let now = at("2026-11-25T14:00:00Z");
    let owner = MerchantUser {
        id: 1,
        email: "owner@example.com".into(),
    };
    let record = Store {
        store_hash: store(),
        status: StoreStatus::Installed,
        access_token: env
            .token_key()
            .seal(&store(), &shared::Secret::new("token-abc"))
            .await
            .unwrap(),
        scopes: vec!["store_v2_customers".into()],
        owner: owner.clone(),
        account_uuid: "acc".into(),
        webhook_secret: shared::Secret::random(),
        installed_at: now,
        updated_at: now,
        uninstalled_at: None,
        purge_after: None,
        settings_version: 0,
    };
    env.db().put_store(&record).await.unwrap();
    assert_eq!(env.db().store_with_settings(&store()).await.unwrap().unwrap().1, None);

    let first = env
        .db()
        .save_settings(&store(), 0, Settings::defaults(owner.clone(), "Acme", now))
        .await
        .unwrap();
    assert_eq!(first.version, 1);
    let mut changed = Settings::defaults(owner.clone(), "Acme Outdoor", now + Duration::minutes(5));
    changed.consent_option = ConsentOption::GeneralMarketing;
    let second = env.db().save_settings(&store(), 1, changed).await.unwrap();
    assert_eq!(second.version, 2);
    // A second user saving from the old version must not overwrite the newer choice.
    let stale = env
        .db()
        .save_settings(&store(), 1, Settings::defaults(owner, "Stale", now))
        .await;
    assert!(matches!(stale, Err(DbError::Conflict(_))));

    let (current_store, current) = env.db().store_with_settings(&store()).await.unwrap().unwrap();
    assert_eq!(current_store.settings_version, 2);
    assert_eq!(current.unwrap().brand_name, "Acme Outdoor");
    // Every version stays as evidence.
    assert_eq!(
        env.db()
            .settings_version(&store(), 1)
            .await
            .unwrap()
            .unwrap()
            .brand_name,
        "Acme"
    );

    env.db()
        .mark_uninstalled(&store(), now + Duration::days(1))
        .await
        .unwrap();
    let uninstalled = env.db().get_store(&store()).await.unwrap().unwrap();
    assert!(!uninstalled.is_installed());
    assert_eq!(uninstalled.settings_version, 2);
}

#[tokio::test]
async fn each_sync_page_counts_once() {
    let env = TestAws::new().await;
    let job = SyncJob::started(store(), "20261125T140000Z-a1".into(), 1, at("2026-11-25T14:00:00Z"));
    env.db().create_sync_job(&job).await.unwrap();
    env.db()
        .set_sync_total_pages(&store(), &job.job_id, 3, 4)
        .await
        .unwrap();
    let counts = PageCounts {
        imported: 240,
        skipped_no_phone: 8,
        skipped_invalid_phone: 2,
        skipped_malformed: 0,
    };
    // Each page queues the next before it counts itself; a queued page reopens nothing twice.
    assert!(
        env.db()
            .record_sync_page_queued(&store(), &job.job_id, 2)
            .await
            .unwrap()
    );
    assert!(
        !env.db()
            .record_sync_page_queued(&store(), &job.job_id, 2)
            .await
            .unwrap()
    );
    assert!(
        env.db()
            .record_sync_page_done(&store(), &job.job_id, 1, counts, false)
            .await
            .unwrap()
    );
    assert!(
        !env.db()
            .record_sync_page_done(&store(), &job.job_id, 1, counts, false)
            .await
            .unwrap(),
        "redelivery counts nothing"
    );
    assert!(
        env.db()
            .record_sync_page_queued(&store(), &job.job_id, 3)
            .await
            .unwrap()
    );
    assert!(
        env.db()
            .record_sync_page_failed(&store(), &job.job_id, 2, Some("c2"), false)
            .await
            .unwrap()
    );
    env.db()
        .record_skipped_customers(&store(), &job.job_id, &[17, 4, 17])
        .await
        .unwrap();
    let malformed = PageCounts {
        skipped_malformed: 2,
        ..counts
    };
    let running = env
        .db()
        .finish_sync_job_if_complete(&store(), &job.job_id, at("2026-11-25T14:04:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.status, SyncJobStatus::Running, "the chain has not ended");
    assert!(
        env.db()
            .record_sync_page_done(&store(), &job.job_id, 3, malformed, true)
            .await
            .unwrap()
    );

    let finished = env
        .db()
        .finish_sync_job_if_complete(&store(), &job.job_id, at("2026-11-25T14:05:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(finished.status, SyncJobStatus::CompletedWithFailures);
    assert_eq!(
        (finished.pages_done, finished.pages_failed, finished.contacts_imported),
        (2, 1, 480)
    );
    assert_eq!(finished.groups_synced, 4);
    assert_eq!((finished.last_page, finished.pages_queued), (Some(3), 3));
    assert_eq!(finished.skipped_malformed, 2);
    let mut skipped = finished.skipped_customers.clone();
    skipped.sort_unstable();
    assert_eq!(skipped, vec![4, 17]);
    assert_eq!(
        env.db().failed_sync_pages(&store(), &job.job_id).await.unwrap(),
        vec![shared::db::FailedPage {
            page: 2,
            after: Some("c2".into())
        }]
    );

    // The failed page, retried, moves from failed to done.
    assert!(
        env.db()
            .record_sync_page_done(&store(), &job.job_id, 2, counts, false)
            .await
            .unwrap()
    );
    let retried = env
        .db()
        .finish_sync_job_if_complete(&store(), &job.job_id, at("2026-11-25T15:00:00Z"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retried.status, SyncJobStatus::Completed);
    assert_eq!(
        (retried.pages_done, retried.pages_failed, retried.contacts_imported),
        (3, 0, 720)
    );
    assert_eq!(
        env.db().latest_sync_job(&store()).await.unwrap().unwrap().job_id,
        job.job_id
    );
}

#[tokio::test]
async fn tokens_resolve_until_they_expire() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Link {
        cart_id: String,
        step: u8,
    }
    let env = TestAws::new().await;
    let token = shared::db::new_token();
    let link = Link {
        cart_id: "c1".into(),
        step: 1,
    };
    let expires = at("2026-12-25T14:00:00Z");
    env.db().put_token("recovery", &token, &link, expires).await.unwrap();
    assert!(matches!(
        env.db().put_token("recovery", &token, &link, expires).await,
        Err(DbError::Conflict(_))
    ));
    let found: Option<Link> = env
        .db()
        .get_token("recovery", &token, at("2026-12-25T13:59:59Z"))
        .await
        .unwrap();
    assert_eq!(found, Some(link));
    let expired: Option<Link> = env.db().get_token("recovery", &token, expires).await.unwrap();
    assert_eq!(expired, None);
    let other_kind: Option<Link> = env
        .db()
        .get_token("opt_out", &token, at("2026-11-25T14:00:00Z"))
        .await
        .unwrap();
    assert_eq!(other_kind, None);
    let unknown: Option<Link> = env
        .db()
        .get_token("recovery", "nope", at("2026-11-25T14:00:00Z"))
        .await
        .unwrap();
    assert_eq!(unknown, None);
}

#[tokio::test]
async fn recent_sends_and_decisions_list_newest_first() {
    let env = TestAws::new().await;
    for (i, cart_id) in ["a", "b", "c"].iter().enumerate() {
        let mut record = send_record(cart_id, 1);
        record.claimed_at = at("2026-11-25T14:00:00Z") + Duration::minutes(i as i64);
        env.db().claim_send(&record).await.unwrap();
        env.db()
            .record_decision(&ReminderDecision {
                store_hash: store(),
                cart_id: cart_id.to_string(),
                step: 1,
                decided_at: record.claimed_at,
                outcome: "deny".into(),
                code: "no_consent".into(),
                explanation: "No consent.".into(),
                defer_until: None,
            })
            .await
            .unwrap();
    }
    let sends = env.db().recent_sends(&store(), 2).await.unwrap();
    assert_eq!(sends.iter().map(|s| s.cart_id.as_str()).collect::<Vec<_>>(), ["c", "b"]);
    let decisions = env.db().recent_decisions(&store(), 10).await.unwrap();
    assert_eq!(
        decisions.iter().map(|d| d.cart_id.as_str()).collect::<Vec<_>>(),
        ["c", "b", "a"]
    );
    assert_eq!(env.db().cart_decisions(&store(), "a").await.unwrap().len(), 1);
}

#[tokio::test]
async fn transactional_sends_are_recorded_beside_reminders() {
    use shared::consent::{PastSend, SentKind};
    let env = TestAws::new().await;
    env.db().claim_send(&send_record("cart-9", 1)).await.unwrap();
    let help = PastSend {
        sent_at: at("2026-11-25T15:00:00Z"),
        kind: SentKind::HelpReply,
    };
    env.db().record_past_send(&store(), &phone(1), &help).await.unwrap();
    let snapshot = env.db().phone_snapshot(&store(), &phone(1)).await.unwrap();
    assert_eq!(
        snapshot.sends.iter().map(|s| s.kind.clone()).collect::<Vec<_>>(),
        [
            SentKind::CartReminder {
                cart_id: "cart-9".into(),
                step: 1
            },
            SentKind::HelpReply
        ]
    );
}
