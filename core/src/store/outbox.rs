//! The durable outbox: one event per state change, written in the transaction of the change, and
//! one delivery per (event, target) that the dispatcher claims, signs and sends until it succeeds
//! or its retries run out.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

mod row;

use super::filter::Filter;
use super::{Backend, Store, StoreError, Tx};
use crate::event::WebhookEvent;
use crate::{EventId, PaymentId};
use row::{ClaimRow, DeliveryRow, SubjectDeliveryRow, DELIVERY_COLUMNS};

/// Where one delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    /// Retries exhausted; waits for an admin.
    ManualReview,
    /// The target answered 410 Gone: this delivery ends there, never retried unless an admin
    /// asks. Later events are still offered to the target.
    Gone,
}

impl DeliveryStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Delivered, Self::ManualReview, Self::Gone];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::ManualReview => "manual_review",
            Self::Gone => "gone",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("unknown delivery status `{s}`"))
    }
}

/// A delivery the dispatcher has claimed.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub delivery_id: i64,
    pub event_id: EventId,
    /// The payment or payout the event is about; deliveries keep its events in order.
    pub subject: String,
    pub target: String,
    /// Attempts made so far, this one included.
    pub attempt: u32,
    pub payload: String,
    /// This claim's fencing token: the attempt's outcome is written only while the delivery
    /// still carries it, that is, while no later claim took the delivery over.
    pub claim_token: i64,
}

/// One delivery as an operator sees it.
#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub event_id: EventId,
    pub event_type: String,
    pub target: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub enum AttemptOutcome {
    Delivered {
        status: u16,
    },
    /// Retried after the schedule's next delay, or after `retry_after` (the target's
    /// `Retry-After`) when that is longer, up to [`RETRY_AFTER_CAP`].
    Failed {
        status: Option<u16>,
        error: String,
        retry_after: Option<Duration>,
    },
    /// The target said 410 Gone.
    Gone {
        error: String,
    },
}

/// The longest wait a target's `Retry-After` can impose on one retry.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

/// How far, at most, each retry's delay is stretched at random, in percent: deliveries that
/// failed together (a target down for everyone) spread out instead of retrying in lockstep.
pub const RETRY_JITTER_PERCENT: u32 = 10;

/// `delay` stretched by a random share of [`RETRY_JITTER_PERCENT`]: within
/// `[delay, delay * (1 + RETRY_JITTER_PERCENT / 100)]`.
pub fn jittered(delay: Duration, rng: &mut impl rand::Rng) -> Duration {
    let most = delay.as_micros() * u128::from(RETRY_JITTER_PERCENT) / 100;
    let extra = rng.gen_range(0..=most);
    delay.saturating_add(Duration::from_micros(u64::try_from(extra).unwrap_or(u64::MAX)))
}

/// What a claim may take: at most `limit` deliveries, and per target only as many as keep its
/// in-flight count (`in_flight`, deliveries already out) within `per_target`.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRoom<'a> {
    pub limit: usize,
    pub per_target: usize,
    pub in_flight: &'a HashMap<String, usize>,
}

/// How an attempt leaves its delivery: the columns an attempt's outcome writes.
#[derive(Debug, PartialEq, Eq)]
struct Ending {
    status: DeliveryStatus,
    next_at: i64,
    code: Option<u16>,
    error: Option<String>,
}

/// How one attempt leaves its delivery; `stretch` turns the schedule's delay into the wait.
fn ending(
    attempt: u32,
    outcome: &AttemptOutcome,
    retry: &[Duration],
    now: i64,
    stretch: impl FnOnce(Duration) -> Duration,
) -> Ending {
    let millis = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2);
    let clip = |error: &str| Some(error.chars().take(500).collect::<String>());
    match outcome {
        AttemptOutcome::Delivered { status } => {
            Ending { status: DeliveryStatus::Delivered, next_at: now, code: Some(*status), error: None }
        }
        AttemptOutcome::Gone { error } => {
            Ending { status: DeliveryStatus::Gone, next_at: now, code: Some(410), error: clip(error) }
        }
        AttemptOutcome::Failed { status, error, retry_after } => match retry.get(attempt.saturating_sub(1) as usize) {
            Some(delay) => {
                let asked = retry_after.map_or(Duration::ZERO, |wait| wait.min(RETRY_AFTER_CAP));
                let next_at = now.saturating_add(millis(stretch(*delay).max(asked)));
                Ending { status: DeliveryStatus::Pending, next_at, code: *status, error: clip(error) }
            }
            None => Ending { status: DeliveryStatus::ManualReview, next_at: now, code: *status, error: clip(error) },
        },
    }
}

impl Store {
    /// Writes an event and a pending delivery to every target, in the caller's transaction; the
    /// row's type and subject are the event's own. Call [`Store::commit_with_events`] to commit
    /// and wake the dispatcher.
    pub async fn enqueue_event(&self, tx: &mut Tx, event: &WebhookEvent, now: i64) -> Result<EventId, StoreError> {
        let (subject, event_type) = (event.subject(), event.event_type());
        // Through a `Value`, the stored text keeps the key order bodies always had (sorted).
        let payload = serde_json::to_value(event)?.to_string();
        let id = EventId::new();
        let ord: i64 = sqlx::query_scalar(
            "INSERT INTO outbox_events (id, payment_id, event_type, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING ord",
        )
        .bind(id.as_str())
        .bind(subject)
        .bind(event_type)
        .bind(payload)
        .bind(now)
        .fetch_one(&mut **tx)
        .await?;
        for target in self.targets.iter() {
            sqlx::query(
                "INSERT INTO webhook_deliveries (event_ord, payment_id, target, status, attempts, next_attempt_at) \
                 VALUES ($1, $2, $3, $5, 0, $4)",
            )
            .bind(ord)
            .bind(subject)
            .bind(target)
            .bind(now)
            .bind(DeliveryStatus::Pending.as_str())
            .execute(&mut **tx)
            .await?;
        }
        Ok(id)
    }

    /// The events about `subject` after `after_ord`, oldest first: `(ord, type, payload)`. The
    /// ord is the outbox's own sequence, so it resumes a stream (`Last-Event-ID`).
    pub async fn events_after(
        &self,
        subject: &str,
        after_ord: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT ord, event_type, payload FROM outbox_events WHERE payment_id = $1 AND ord > $2 ORDER BY ord LIMIT $3",
        )
        .bind(subject)
        .bind(after_ord)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Claims due deliveries for `lease`, within `room`. A delivery waits while an earlier event
    /// of the same payment is still pending for the same target, so each target sees a payment's
    /// events in order; a target whose in-flight deliveries fill its share is not asked for more,
    /// so a slow target's backlog never takes the claim from the others.
    pub async fn claim_deliveries(
        &self,
        room: ClaimRoom<'_>,
        lease: Duration,
        now: i64,
    ) -> Result<Vec<DueDelivery>, StoreError> {
        let lock = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        };
        let full: Vec<&str> =
            room.in_flight.iter().filter(|(_, n)| **n >= room.per_target).map(|(t, _)| t.as_str()).collect();
        let skip = if full.is_empty() {
            String::new()
        } else {
            let params = (0..full.len()).map(|i| format!("${}", i + 3)).collect::<Vec<_>>().join(",");
            format!(" AND d.target NOT IN ({params})")
        };
        // The status is written into the text, not bound: a prepared statement's generic plan
        // would estimate an average status, where the planner knows pending rows are few.
        let pending = DeliveryStatus::Pending.as_str();
        let sql = format!(
            "SELECT d.id, d.target, d.attempts, e.id AS event_id, e.payment_id, e.payload \
             FROM webhook_deliveries d JOIN outbox_events e ON e.ord = d.event_ord \
             WHERE d.status = '{pending}' AND d.next_attempt_at <= $1 AND (d.lease_until IS NULL OR d.lease_until < $1){skip} \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.payment_id = d.payment_id \
                 AND p.target = d.target AND p.event_ord < d.event_ord AND p.status = '{pending}') \
             ORDER BY d.event_ord LIMIT $2{lock}"
        );
        let mut tx = self.begin().await?;
        let mut query =
            sqlx::query_as::<_, ClaimRow>(&sql).bind(now).bind(i64::try_from(room.limit).unwrap_or(i64::MAX));
        for target in &full {
            query = query.bind(*target);
        }
        let rows = query.fetch_all(&mut *tx).await?;
        let lease_until = now + i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2);
        // One token per claim: random, so instances need no shared sequence to tell claims apart.
        let claim_token: i64 = rand::random();
        let mut taken: HashMap<String, usize> = HashMap::new();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let out = room.in_flight.get(&row.target).copied().unwrap_or(0);
            let slot = taken.entry(row.target.clone()).or_insert(0);
            if out + *slot >= room.per_target {
                // Left unleased: the next claim finds it once the target has room.
                continue;
            }
            *slot += 1;
            claimed.push(row.claimed(claim_token)?);
        }
        if !claimed.is_empty() {
            // One statement for the whole claim: ids are integers the database gave out.
            let ids = claimed.iter().map(|d| d.delivery_id.to_string()).collect::<Vec<_>>().join(",");
            sqlx::query(&format!(
                "UPDATE webhook_deliveries SET lease_until = $1, claim_token = $2, attempts = attempts + 1 WHERE id IN ({ids})"
            ))
            .bind(lease_until)
            .bind(claim_token)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Records finished attempts in one transaction: each delivered, gone, retried after the
    /// schedule's next delay, or handed to manual review once the schedule is used up. Returns
    /// each delivery's new status, in order, or `None` where the attempt's claim was superseded
    /// (its lease ran out and another claim took the delivery): that outcome is dropped, so an
    /// attempt that outlived its lease never overwrites what the next claim's attempt recorded.
    pub async fn finish_attempts(
        &self,
        attempts: &[(DueDelivery, AttemptOutcome)],
        retry: &[Duration],
        now: i64,
    ) -> Result<Vec<Option<DeliveryStatus>>, StoreError> {
        let mut endings = Vec::with_capacity(attempts.len());
        // Attempts that end alike under one claim (nearly all: delivered with the same HTTP
        // status) share one UPDATE; the ids are integers the database gave out.
        let mut groups: Vec<((Ending, i64), Vec<String>)> = Vec::new();
        for (delivery, outcome) in attempts {
            let stretch = |delay| jittered(delay, &mut rand::thread_rng());
            let key = (ending(delivery.attempt, outcome, retry, now, stretch), delivery.claim_token);
            endings.push(key.0.status);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ids)) => ids.push(delivery.delivery_id.to_string()),
                None => groups.push((key, vec![delivery.delivery_id.to_string()])),
            }
        }
        let mut written = HashSet::new();
        let mut tx = self.begin().await?;
        for ((Ending { status, next_at, code, error }, claim_token), ids) in groups {
            let delivered_at = (status == DeliveryStatus::Delivered).then_some(now);
            let rows: Vec<i64> = sqlx::query_scalar(&format!(
                "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, lease_until = NULL, \
                 last_status = $3, last_error = $4, delivered_at = $5 \
                 WHERE id IN ({}) AND claim_token = $6 RETURNING id",
                ids.join(",")
            ))
            .bind(status.as_str())
            .bind(next_at)
            .bind(code.map(i64::from))
            .bind(error)
            .bind(delivered_at)
            .bind(claim_token)
            .fetch_all(&mut *tx)
            .await?;
            written.extend(rows);
        }
        tx.commit().await?;
        Ok(attempts
            .iter()
            .zip(endings)
            .map(|((delivery, _), status)| written.contains(&delivery.delivery_id).then_some(status))
            .collect())
    }

    /// Puts deliveries in manual review or gone back in the queue with a fresh retry schedule, and makes
    /// deliveries waiting for a retry due now; of one payment, or of all. Returns how many.
    pub async fn requeue_deliveries(&self, payment_id: Option<&PaymentId>, now: i64) -> Result<u64, StoreError> {
        use DeliveryStatus::{Gone, ManualReview, Pending};
        let filter = Filter::default()
            .and_each(
                "(status IN ({}, {}) OR (status = {} AND attempts > 0))",
                [ManualReview, Gone, Pending].map(Into::into),
            )
            .and_some("payment_id = {}", payment_id.map(PaymentId::as_str));
        let sql = format!(
            "UPDATE webhook_deliveries SET attempts = CASE WHEN status IN ({}, {}) THEN 0 ELSE attempts END, \
             status = {}, next_attempt_at = {}, lease_until = NULL{}",
            filter.then(1),
            filter.then(2),
            filter.then(3),
            filter.then(4),
            filter.clause()
        );
        let query = filter
            .bind(sqlx::query(&sql))
            .bind(ManualReview.as_str())
            .bind(Gone.as_str())
            .bind(Pending.as_str())
            .bind(now);
        let done = query.execute(&self.pool).await?;
        self.outbox_signal.notify_waiters();
        Ok(done.rows_affected())
    }

    /// Deliveries not yet delivered (pending or in manual review); gone ones ended.
    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status IN ($1, $2)")
            .bind(DeliveryStatus::Pending.as_str())
            .bind(DeliveryStatus::ManualReview.as_str())
            .fetch_one(&self.pool)
            .await?)
    }

    /// Deliveries in one status, oldest first, with the payment or payout each is about.
    pub async fn deliveries_in(
        &self,
        status: DeliveryStatus,
        limit: i64,
    ) -> Result<Vec<(String, DeliveryRecord)>, StoreError> {
        let rows = sqlx::query_as::<_, SubjectDeliveryRow>(&format!(
            "SELECT {DELIVERY_COLUMNS}, d.payment_id FROM webhook_deliveries d JOIN outbox_events e ON e.ord = d.event_ord \
             WHERE d.status = $1 ORDER BY d.event_ord, d.target LIMIT $2"
        ))
        .bind(status.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }

    /// Every delivery of a payment's events, oldest first.
    pub async fn deliveries_of(&self, payment_id: &PaymentId) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query_as::<_, DeliveryRow>(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN outbox_events e ON e.ord = d.event_ord \
             WHERE d.payment_id = $1 ORDER BY d.event_ord, d.target"
        ))
        .bind(payment_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(DeliveryRecord::try_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(retry_after: Option<Duration>) -> AttemptOutcome {
        AttemptOutcome::Failed { status: Some(429), error: "HTTP 429".to_owned(), retry_after }
    }

    #[test]
    fn retry_after_stretches_the_schedule_within_a_bound() {
        let retry = [Duration::from_secs(30), Duration::from_secs(60)];
        let at = |attempt, outcome: &AttemptOutcome| ending(attempt, outcome, &retry, 1_000, |d| d);
        assert_eq!(at(1, &failed(None)).next_at, 31_000);
        // Shorter than the schedule: the schedule holds.
        assert_eq!(at(1, &failed(Some(Duration::from_secs(5)))).next_at, 31_000);
        assert_eq!(at(2, &failed(Some(Duration::from_secs(90)))).next_at, 91_000);
        let capped = at(1, &failed(Some(Duration::from_secs(u64::MAX)))).next_at;
        assert_eq!(capped, 1_000 + 3_600_000);
        // Still within the schedule: the last attempt goes to manual review whatever it asks.
        assert_eq!(at(3, &failed(Some(Duration::from_secs(5)))).status, DeliveryStatus::ManualReview);
        let gone = at(1, &AttemptOutcome::Gone { error: "HTTP 410".to_owned() });
        assert_eq!((gone.status, gone.code), (DeliveryStatus::Gone, Some(410)));
    }

    #[test]
    fn jitter_stretches_each_retry_by_at_most_a_tenth() {
        let mut rng = rand::thread_rng();
        for delay in [Duration::ZERO, Duration::from_millis(1), Duration::from_millis(300), Duration::from_secs(120)] {
            let most = delay + delay / 10;
            let waits: Vec<Duration> = (0..2_000).map(|_| jittered(delay, &mut rng)).collect();
            for wait in &waits {
                assert!(*wait >= delay && *wait <= most, "{delay:?} stretched to {wait:?}");
            }
            if delay >= Duration::from_millis(300) {
                // Spread over the range, not one fixed stretch.
                let (low, high) = (waits.iter().min().copied(), waits.iter().max().copied());
                assert!(low < Some(delay + delay / 50) && high > Some(most - delay / 50), "{low:?}..{high:?}");
            }
        }
        // Saturates instead of overflowing.
        assert!(jittered(Duration::MAX, &mut rng) == Duration::MAX);
        // A failed attempt's next time is the jittered delay.
        let retry = [Duration::from_secs(30)];
        let next = ending(1, &failed(None), &retry, 0, |d| jittered(d, &mut rng)).next_at;
        assert!((30_000..=33_000).contains(&next), "{next}");
    }
}
