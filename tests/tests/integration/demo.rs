//! `cargo xtask demo` as a test: the story runs start to finish and its summary adds up.

use integration_tests::demo::{self, CUSTOMERS};
use rust_decimal::Decimal;

#[tokio::test]
async fn the_demo_story_runs_end_to_end_and_its_summary_adds_up() {
    let mut output = Vec::new();
    let summary = demo::run(&mut output, false).await;
    let text = String::from_utf8(output).unwrap();

    // The sim's customers: 7 in 10 have a usable phone, 1 in 10 none, 2 in 10 junk.
    assert_eq!(summary.customers_in_store, CUSTOMERS);
    assert_eq!(summary.contacts_imported, (CUSTOMERS * 7 / 10) as u64);
    assert_eq!(summary.skipped_no_phone, (CUSTOMERS / 10) as u64);
    assert_eq!(summary.skipped_invalid_phone, (CUSTOMERS * 2 / 10) as u64);
    // The imported contacts plus the three shoppers who ticked the box (Noah, a guest who did not and did not
    // buy, is nobody's contact).
    assert_eq!(summary.contacts, summary.contacts_imported + 3);
    let consent = summary.consent;
    assert_eq!(
        consent.subscribed + consent.pending_double_opt_in + consent.unsubscribed + consent.never_subscribed,
        summary.contacts
    );
    assert_eq!(consent.unsubscribed, 1, "Mia, after STOP");
    // Lee (double opt-in) and Isla (verified checkbox); the import default is no express consent.
    assert_eq!(consent.subscribed_sms_express, 2);
    assert_eq!(consent.subscribed, summary.contacts_imported + 2);
    // Mia's and Lee's reminders; Noah's (no consent) and Mia's after STOP are denied; Isla bought first.
    assert_eq!(summary.reminders_sent, 2, "{text}");
    assert_eq!(summary.reminders_denied, 2, "{text}");
    assert_eq!(summary.reminders_deferred, 0, "{text}");
    // Lee's double opt-in request and the answer to YES; Mia's STOP confirmation.
    assert_eq!(summary.other_texts, 3, "{text}");
    assert_eq!(summary.orders_recovered, 1);
    assert_eq!(summary.recovered_revenue, Decimal::new(6400, 2));

    for sentence in [
        "[#########################] 100%",
        "Lee replies \"Yes\"",
        "Noah's cart, reminder 1: not sent.",
        "Mia's cart, reminder 1: sent.",
        "Recovered revenue: 64.00 from 1 order(s).",
    ] {
        assert!(text.contains(sentence), "missing {sentence:?} in:\n{text}");
    }
    assert!(!text.contains("\"level\""), "no log lines in the story");
}
