//! Webhook deliveries: their status written by the outbox and read back typed.

use std::collections::HashMap;
use std::time::Duration;

use super::payouts::payout;
use super::support::{both_backends, TestStore};
use crate::event::{payout_event, PayoutEvent};
use crate::store::outbox::AttemptOutcome;
use crate::store::{Backend, ClaimRoom, DeliveryStatus, DueDelivery, StoreError};
use crate::{EventId, PaymentId, PayoutStatus};

const NOW: i64 = 1_700_000_000_123;
const TARGET: &str = "https://hooks.example/payscan";

async fn claim(store: &TestStore, now: i64) -> Vec<DueDelivery> {
    let in_flight = HashMap::new();
    let room = ClaimRoom { limit: 10, per_target: 10, in_flight: &in_flight };
    store.claim_deliveries(room, Duration::from_secs(30), now).await.expect("claim")
}

async fn statuses(store: &TestStore, status: DeliveryStatus) -> Vec<(String, DeliveryStatus, i64)> {
    let deliveries = store.deliveries_in(status, 10).await.expect("deliveries");
    deliveries.into_iter().map(|(subject, d)| (subject, d.status, d.attempts)).collect()
}

async fn a_delivery_status_reads_back_typed(backend: Backend) {
    let store = TestStore::fresh(backend).await.with_targets(&[TARGET]);
    let queued = payout("po_01JD3Y5Q6P2W8V3N4M5K6J7H8H", "release-1", PayoutStatus::Queued);
    let subject = queued.id.as_str().to_owned();
    let mut tx = store.begin().await.expect("begin");
    let event_id =
        store.enqueue_event(&mut tx, &payout_event(PayoutEvent::Queued, &queued, NOW), NOW).await.expect("enqueue");
    store.commit_with_events(tx).await.expect("commit");
    assert_eq!(statuses(&store, DeliveryStatus::Pending).await, [(subject.clone(), DeliveryStatus::Pending, 0)]);
    assert_eq!(store.outbox_depth().await.expect("depth"), 1);

    // Its retries used up (an empty schedule), the delivery waits for an admin.
    let claimed = claim(&store, NOW).await;
    assert_eq!(claimed.len(), 1);
    assert_eq!((claimed[0].event_id.clone(), claimed[0].attempt), (event_id.clone(), 1));
    let failed = AttemptOutcome::Failed { status: Some(500), error: "HTTP 500".into(), retry_after: None };
    let ended = store.finish_attempts(&[(claimed[0].clone(), failed)], &[], NOW).await.expect("finish");
    assert_eq!(ended, [Some(DeliveryStatus::ManualReview)]);
    assert_eq!(
        statuses(&store, DeliveryStatus::ManualReview).await,
        [(subject.clone(), DeliveryStatus::ManualReview, 1)]
    );
    assert!(statuses(&store, DeliveryStatus::Pending).await.is_empty());
    assert_eq!(store.outbox_depth().await.expect("depth"), 1);

    // Requeued for another payment: nothing; for all: pending again with a fresh schedule.
    let other: PaymentId = "pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G".parse().expect("payment id");
    assert_eq!(store.requeue_deliveries(Some(&other), NOW).await.expect("requeue"), 0);
    assert_eq!(store.requeue_deliveries(None, NOW).await.expect("requeue"), 1);
    assert_eq!(statuses(&store, DeliveryStatus::Pending).await, [(subject.clone(), DeliveryStatus::Pending, 0)]);

    let claimed = claim(&store, NOW + 1).await;
    assert_eq!(claimed.len(), 1);
    let ended = store
        .finish_attempts(&[(claimed[0].clone(), AttemptOutcome::Delivered { status: 200 })], &[], NOW + 1)
        .await
        .expect("finish");
    assert_eq!(ended, [Some(DeliveryStatus::Delivered)]);
    let delivered = store.deliveries_in(DeliveryStatus::Delivered, 10).await.expect("deliveries");
    assert_eq!(delivered.len(), 1);
    let (_, record) = &delivered[0];
    assert_eq!((&record.event_id, record.event_type.as_str()), (&event_id, "payout.queued"));
    assert_eq!((record.status, record.attempts, record.last_status), (DeliveryStatus::Delivered, 1, Some(200)));
    assert_eq!(store.outbox_depth().await.expect("depth"), 0);
    assert!(claim(&store, NOW + 2).await.is_empty());
}

async fn a_delivery_with_an_unknown_status_is_corrupt(backend: Backend) {
    let store = TestStore::fresh(backend).await;
    let payment: PaymentId = "pay_01JD3Y5Q6P2W8V3N4M5K6J7H8G".parse().expect("payment id");
    // Written behind the store's back: no status the store writes is unknown to it.
    let ord: i64 = sqlx::query_scalar(
        "INSERT INTO outbox_events (id, payment_id, event_type, payload, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING ord",
    )
    .bind(EventId::new().as_str())
    .bind(payment.as_str())
    .bind("payment.completed")
    .bind("{}")
    .bind(NOW)
    .fetch_one(store.pool())
    .await
    .expect("event");
    sqlx::query(
        "INSERT INTO webhook_deliveries (event_ord, payment_id, target, status, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(ord)
    .bind(payment.as_str())
    .bind(TARGET)
    .bind("bounced")
    .bind(NOW)
    .execute(store.pool())
    .await
    .expect("delivery");
    match store.deliveries_of(&payment).await {
        Err(StoreError::Corrupt(what)) => assert!(what.contains("column status `bounced`"), "{what}"),
        other => panic!("expected a corrupt row, got {other:?}"),
    }
}

#[test]
fn a_delivery_status_parses_its_own_text() {
    for status in DeliveryStatus::ALL {
        assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(status));
    }
    assert!("bounced".parse::<DeliveryStatus>().is_err());
}

both_backends!(a_delivery_status_reads_back_typed, a_delivery_with_an_unknown_status_is_corrupt);
