//! The outbox dispatcher: claims due deliveries as far as each target has room, signs each attempt
//! afresh (Standard Webhooks, same `webhook-id` on every retry), posts it through the outbound
//! policy, and records the outcome as the attempt ends. A failed delivery waits out the retry
//! schedule and then goes to manual review; a crash mid-delivery only means the lease runs out and
//! the attempts that were still out are sent again, which receivers dedupe by `webhook-id`.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use payscan_core::clock;
use payscan_core::config::WebhookConfig;
use payscan_core::store::outbox::AttemptOutcome;
use payscan_core::store::{ClaimRoom, DeliveryStatus, DueDelivery, Store, StoreError};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::attempt::Poster;
use crate::claim::{Claimed, InFlight, Slot};
use crate::metrics::OutboxMetrics;

/// How long a finished attempt may wait for others to share its commit.
const RECORD_WINDOW: Duration = Duration::from_millis(25);

/// How many claims of one instance may be out or answered but not yet recorded, in claim
/// batches. A claim never runs further ahead of the records than this, however slow the
/// database, so no lease runs out on an attempt that was answered.
const UNRECORDED_BATCHES: usize = 4;

/// How many deliveries one claim takes at most.
const BATCH: usize = 256;

/// What one dispatch step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DispatchOutcome {
    /// Attempted this many deliveries.
    Attempted(usize),
    /// Nothing was due.
    Empty,
}

/// Delivers outbox events to their targets.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    poster: Poster,
    retry: Arc<[Duration]>,
    /// How long a claim holds its deliveries; past it, another claim may take them over.
    lease: Duration,
    metrics: OutboxMetrics,
    batch: usize,
    per_target: usize,
    in_flight: InFlight,
    /// Claims not yet recorded; see [`UNRECORDED_BATCHES`].
    unrecorded: Arc<Semaphore>,
}

impl Dispatcher {
    pub fn new(store: Store, config: &WebhookConfig, metrics: OutboxMetrics) -> Result<Self, reqwest::Error> {
        Ok(Self {
            store,
            poster: Poster::new(config)?,
            retry: Arc::from(config.retry.clone()),
            // A lease only has to outlive one attempt; after a crash the delivery is retried soon.
            lease: config.timeout + Duration::from_secs(5),
            metrics,
            batch: BATCH,
            per_target: config.concurrency,
            in_flight: Arc::default(),
            unrecorded: Arc::new(Semaphore::new(BATCH * UNRECORDED_BATCHES)),
        })
    }

    /// Sends deliveries to payscan's own receiver (the store's `SELF_TARGET`) to `url`.
    pub fn with_self_url(mut self, url: String) -> Self {
        self.poster = self.poster.with_self_url(url);
        self
    }

    /// Claims hold their deliveries for `lease` instead of the attempt timeout and a margin
    /// (tests use a lease shorter than an attempt to have a claim taken over).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The claim step: what is due, as far as each target has room beside the deliveries it
    /// already has in flight and this instance has room beside the outcomes it has not yet
    /// recorded. Nothing is claimed while the records are that far behind.
    pub async fn claim(&self) -> Result<Vec<Claimed>, StoreError> {
        let limit = self.unrecorded.available_permits().min(self.batch);
        let Some(mut permits) = u32::try_from(limit)
            .ok()
            .filter(|&n| n > 0)
            .and_then(|n| self.unrecorded.clone().try_acquire_many_owned(n).ok())
        else {
            return Ok(Vec::new());
        };
        let in_flight = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let room = ClaimRoom { limit, per_target: self.per_target, in_flight: &in_flight };
        let due = self.store.claim_deliveries(room, self.lease, clock::now_ms()).await?;
        let mut map = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let mut claimed = Vec::with_capacity(due.len());
        for delivery in due {
            // `limit` permits were taken and at most `limit` deliveries come back.
            let Some(unrecorded) = permits.split(1) else { break };
            let slot = Slot::take(&self.in_flight, &mut map, &delivery.target);
            claimed.push(Claimed { delivery, slot, unrecorded });
        }
        Ok(claimed)
    }

    /// One whole step, for tests: claim what is due, deliver it concurrently, record every
    /// outcome. [`Dispatcher::run`] instead records each outcome as it ends.
    pub async fn try_dispatch(&self) -> Result<DispatchOutcome, StoreError> {
        let claimed = self.claim().await?;
        if claimed.is_empty() {
            self.metrics.outbox_depth.set(self.store.outbox_depth().await?);
            return Ok(DispatchOutcome::Empty);
        }
        let count = claimed.len();
        let mut attempts = JoinSet::new();
        let mut permits = Vec::with_capacity(count);
        for Claimed { delivery, slot, unrecorded } in claimed {
            let this = self.clone();
            permits.push(unrecorded);
            attempts.spawn(async move {
                let outcome = this.deliver(&delivery).await;
                drop(slot);
                (delivery, outcome)
            });
        }
        let mut finished = Vec::with_capacity(count);
        while let Some(joined) = attempts.join_next().await {
            if let Ok(done) = joined {
                finished.push(done);
            }
        }
        self.record(&finished).await?;
        drop(permits);
        Ok(DispatchOutcome::Attempted(count))
    }

    /// Commits finished attempts' outcomes at once and reports them. An outcome whose claim a
    /// later claim superseded is dropped: that claim's attempt decides the delivery.
    pub async fn record(&self, finished: &[(DueDelivery, AttemptOutcome)]) -> Result<(), StoreError> {
        let statuses = self.store.finish_attempts(finished, &self.retry, clock::now_ms()).await?;
        for ((delivery, outcome), status) in finished.iter().zip(statuses) {
            match status {
                Some(status) => self.report(delivery, outcome, status),
                None => {
                    self.metrics.deliveries.with_label_values(&["superseded"]).inc();
                    info!(event_id = %delivery.event_id, target = %delivery.target, attempt = delivery.attempt,
                        "webhook attempt outlived its claim; its outcome is dropped for the later claim's");
                }
            }
        }
        Ok(())
    }

    /// One attempt: signed afresh, posted under the outbound policy, its answer read up to the
    /// cap.
    pub async fn deliver(&self, delivery: &DueDelivery) -> AttemptOutcome {
        self.poster.deliver(delivery).await
    }

    fn report(&self, delivery: &DueDelivery, outcome: &AttemptOutcome, status: DeliveryStatus) {
        let label = match (outcome, status) {
            (AttemptOutcome::Delivered { .. }, _) => "delivered",
            (AttemptOutcome::Gone { .. }, _) => "gone",
            (_, DeliveryStatus::ManualReview) => "manual_review",
            _ => "retry",
        };
        self.metrics.deliveries.with_label_values(&[label]).inc();
        match (outcome, status) {
            (AttemptOutcome::Delivered { .. }, _) => {
                debug!(event_id = %delivery.event_id, target = %delivery.target, attempt = delivery.attempt, "webhook delivered");
            }
            (AttemptOutcome::Gone { error }, _) => {
                warn!(event_id = %delivery.event_id, target = %delivery.target, attempt = delivery.attempt, error = %error,
                    "webhook target answered 410 Gone; this delivery is not retried");
            }
            (AttemptOutcome::Failed { error, .. }, DeliveryStatus::ManualReview) => {
                warn!(event_id = %delivery.event_id, target = %delivery.target, attempts = delivery.attempt, error = %error,
                    "webhook retries exhausted; delivery needs manual review");
            }
            (AttemptOutcome::Failed { error, .. }, _) => {
                info!(event_id = %delivery.event_id, target = %delivery.target, attempt = delivery.attempt, error = %error,
                    "webhook delivery failed; will retry");
            }
        }
    }

    /// Dispatches until cancelled: claims while targets have room, runs each attempt on its own,
    /// and records each outcome as it ends (a commit gathers what ended within
    /// [`RECORD_WINDOW`]), so that a slow target holds up neither the others' deliveries nor
    /// their records. In-flight attempts finish and are recorded before it returns.
    pub async fn run(self, cancel: CancellationToken, idle_poll: Duration) {
        let signal = self.store.outbox_signal();
        let wake = Arc::new(Notify::new());
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(self.clone().record_as_they_end(done_rx, wake.clone()));
        let mut attempts = JoinSet::new();
        let mut backoff = Duration::from_millis(200);
        while !cancel.is_cancelled() {
            while attempts.try_join_next().is_some() {}
            // Register interest before looking, so that a commit in between is not missed.
            let notified = signal.notified();
            let woken = wake.notified();
            let wait = if self.unrecorded.available_permits() == 0 {
                // The records are behind: the recorder wakes the loop once it has caught up.
                idle_poll
            } else {
                match self.claim().await {
                    Ok(claimed) if !claimed.is_empty() => {
                        backoff = Duration::from_millis(200);
                        for Claimed { delivery, slot, unrecorded } in claimed {
                            let this = self.clone();
                            let done = done_tx.clone();
                            attempts.spawn(async move {
                                let outcome = this.deliver(&delivery).await;
                                // The target's slot is free for its next delivery now; the permit
                                // goes with the outcome and is given back once it is recorded.
                                drop(slot);
                                // The recorder outlives every attempt: it stops once all senders are gone.
                                let _ = done.send((delivery, outcome, unrecorded));
                            });
                        }
                        continue;
                    }
                    Ok(_) => {
                        match self.store.outbox_depth().await {
                            Ok(depth) => self.metrics.outbox_depth.set(depth),
                            Err(e) => debug!(error = %e, "outbox depth unavailable"),
                        }
                        idle_poll
                    }
                    Err(e) => {
                        warn!(error = %e, "webhook dispatch failed; retrying");
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        backoff
                    }
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = notified => {}
                _ = woken => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        while attempts.join_next().await.is_some() {}
        drop(done_tx);
        let _ = recorder.await;
        info!("webhook dispatcher stopped");
    }

    /// Commits outcomes as attempts end, a window's worth at a time, then gives their permits
    /// back and wakes the claim loop: the next events of those payments are claimable now, and
    /// the claim has room again.
    async fn record_as_they_end(
        self,
        mut done: mpsc::UnboundedReceiver<(DueDelivery, AttemptOutcome, OwnedSemaphorePermit)>,
        wake: Arc<Notify>,
    ) {
        let mut batch = Vec::new();
        let mut permits = Vec::new();
        while let Some((delivery, outcome, permit)) = done.recv().await {
            batch.push((delivery, outcome));
            permits.push(permit);
            let window = tokio::time::sleep(RECORD_WINDOW);
            tokio::pin!(window);
            while batch.len() < self.batch {
                tokio::select! {
                    next = done.recv() => match next {
                        Some((delivery, outcome, permit)) => {
                            batch.push((delivery, outcome));
                            permits.push(permit);
                        }
                        None => break,
                    },
                    _ = &mut window => break,
                }
            }
            let mut wait = Duration::from_millis(100);
            loop {
                match self.record(&batch).await {
                    Ok(()) => break,
                    Err(e) if wait < Duration::from_secs(2) => {
                        warn!(error = %e, deliveries = batch.len(), "recording webhook attempts failed; retrying");
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                    }
                    Err(e) => {
                        // Their leases run out and they are sent again under the same
                        // `webhook-id`, which receivers dedupe.
                        warn!(error = %e, deliveries = batch.len(), "webhook attempts left unrecorded");
                        break;
                    }
                }
            }
            batch.clear();
            permits.clear();
            wake.notify_one();
        }
    }
}
