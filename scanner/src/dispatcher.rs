//! The outbox dispatcher: claims due deliveries, signs each attempt afresh (Standard Webhooks,
//! same `webhook-id` on every retry), posts it, and records the outcome. A failed delivery waits
//! out the retry schedule and then goes to manual review; a crash mid-delivery only means the
//! lease runs out and the same event is sent again, which receivers dedupe by `webhook-id`.

use std::sync::Arc;
use std::time::Duration;

use payscan_core::clock;
use payscan_core::config::WebhookConfig;
use payscan_core::store::outbox::AttemptOutcome;
use payscan_core::store::{DeliveryStatus, DueDelivery, Store, StoreError};
use payscan_core::webhook::{WebhookSecret, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, SELF_TARGET};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::metrics::ScannerMetrics;

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
    http: reqwest::Client,
    secret: Arc<WebhookSecret>,
    retry: Arc<[Duration]>,
    timeout: Duration,
    metrics: ScannerMetrics,
    batch: i64,
    /// Where [`SELF_TARGET`] deliveries go: this instance's own receiver.
    self_url: Option<Arc<str>>,
}

impl Dispatcher {
    pub fn new(store: Store, config: &WebhookConfig, metrics: ScannerMetrics) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("payscan/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            http,
            secret: Arc::new(config.secret.clone()),
            retry: Arc::from(config.retry.clone()),
            timeout: config.timeout,
            metrics,
            batch: 256,
            self_url: None,
        })
    }

    /// Sends [`SELF_TARGET`] deliveries to `url`, this instance's own receiver.
    pub fn with_self_url(mut self, url: String) -> Self {
        self.self_url = Some(Arc::from(url));
        self
    }

    /// One step: claim what is due, deliver it concurrently, record each outcome.
    pub async fn try_dispatch(&self) -> Result<DispatchOutcome, StoreError> {
        // A lease only has to outlive one attempt; after a crash the delivery is retried soon.
        let lease = self.timeout + Duration::from_secs(5);
        let due = self.store.claim_deliveries(self.batch, lease, clock::now_ms()).await?;
        if due.is_empty() {
            self.metrics.outbox_depth.set(self.store.outbox_depth().await?);
            return Ok(DispatchOutcome::Empty);
        }
        let count = due.len();
        let mut attempts = JoinSet::new();
        for delivery in due {
            let this = self.clone();
            attempts.spawn(async move {
                let outcome = this.deliver(&delivery).await;
                (delivery, outcome)
            });
        }
        let mut finished = Vec::with_capacity(count);
        while let Some(joined) = attempts.join_next().await {
            if let Ok(done) = joined {
                finished.push(done);
            }
        }
        // One commit for the whole claim. If it fails, the leases run out and the deliveries
        // are sent again under the same `webhook-id`, which receivers dedupe.
        let statuses = self.store.finish_attempts(&finished, &self.retry, clock::now_ms()).await?;
        for ((delivery, outcome), status) in finished.iter().zip(statuses) {
            self.report(delivery, outcome, status);
        }
        Ok(DispatchOutcome::Attempted(count))
    }

    async fn deliver(&self, delivery: &DueDelivery) -> AttemptOutcome {
        let url = if delivery.target == SELF_TARGET {
            match &self.self_url {
                Some(url) => url.as_ref(),
                None => {
                    let error = "payscan's own receiver is turned off (PAYSCAN_SELF_WEBHOOK=false)".to_owned();
                    return AttemptOutcome::Failed { status: None, error };
                }
            }
        } else {
            delivery.target.as_str()
        };
        let timestamp = clock::now_ms() / 1000;
        let signature = self.secret.sign(delivery.event_id.as_str(), timestamp, delivery.payload.as_bytes());
        let response = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, delivery.event_id.as_str())
            .header(HEADER_TIMESTAMP, timestamp.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(delivery.payload.clone())
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => {
                AttemptOutcome::Delivered { status: response.status().as_u16() }
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                AttemptOutcome::Failed { status: Some(status), error: format!("HTTP {status}: {body}") }
            }
            Err(e) => AttemptOutcome::Failed { status: None, error: e.without_url().to_string() },
        }
    }

    fn report(&self, delivery: &DueDelivery, outcome: &AttemptOutcome, status: DeliveryStatus) {
        let label = match (outcome, status) {
            (AttemptOutcome::Delivered { .. }, _) => "delivered",
            (_, DeliveryStatus::ManualReview) => "manual_review",
            _ => "retry",
        };
        self.metrics.deliveries.with_label_values(&[label]).inc();
        match (outcome, status) {
            (AttemptOutcome::Delivered { .. }, _) => {
                debug!(event_id = %delivery.event_id, target = %delivery.target, attempt = delivery.attempt, "webhook delivered");
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

    /// Dispatches until cancelled. An in-flight batch always finishes before it returns, so a
    /// shutdown never leaves a sent delivery unrecorded.
    pub async fn run(self, cancel: CancellationToken, idle_poll: Duration) {
        let signal = self.store.outbox_signal();
        let mut backoff = Duration::from_millis(200);
        while !cancel.is_cancelled() {
            // Register interest before looking, so that a commit in between is not missed.
            let notified = signal.notified();
            let wait = match self.try_dispatch().await {
                Ok(DispatchOutcome::Attempted(_)) => {
                    backoff = Duration::from_millis(200);
                    continue;
                }
                Ok(DispatchOutcome::Empty) => idle_poll,
                Err(e) => {
                    warn!(error = %e, "webhook dispatch failed; retrying");
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    backoff
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = notified => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        info!("webhook dispatcher stopped");
    }
}
