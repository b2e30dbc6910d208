//! One fan-out of payment events per process for the Server-Sent Event streams. A single task
//! reads every new outbox event and the state of the payments that streams follow, once per
//! commit (or per poll, for what other instances write), and hands each stream what concerns its
//! payment: a thousand open streams cost the database what one does, and the followers' share of
//! the pool never waits on them. Open streams are capped; a stream too slow to take what it is
//! handed is closed, and its client resumes with `Last-Event-ID`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use payscan_core::store::{FeedEvent, Payment, Store};
use prometheus::{IntCounter, IntGauge, Registry};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::error::{ApiError, ErrorCode};

/// How often the feed reads when no local commit wakes it (events other instances write).
const POLL: Duration = Duration::from_secs(1);
/// Events read per query.
const PAGE: i64 = 500;
/// What a stream may have waiting before it counts as too slow.
const BACKLOG: usize = 256;
/// What a client refused for the cap is told to wait, in seconds.
const FULL_RETRY_AFTER: u64 = 5;

/// What the feed hands a stream.
#[derive(Debug, Clone)]
pub enum FeedItem {
    /// An outbox event about the stream's payment.
    Event(Arc<FeedEvent>),
    /// The payment as it is now (the stream sends progress when it changed).
    Payment(Arc<Payment>),
}

type Subscribers = HashMap<String, Vec<mpsc::Sender<FeedItem>>>;

/// The fan-out.
pub struct Feed {
    store: Store,
    subscribers: Mutex<Subscribers>,
    streams: Arc<Semaphore>,
    open: IntGauge,
    queries: IntCounter,
}

/// One stream's share of the feed; dropping it leaves the feed and frees its place.
pub struct Subscription {
    pub items: mpsc::Receiver<FeedItem>,
    open: IntGauge,
    _place: OwnedSemaphorePermit,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.open.dec();
    }
}

impl Feed {
    pub fn new(store: Store, max_streams: usize, registry: &Registry) -> Result<Self, prometheus::Error> {
        let open = IntGauge::new("payscan_sse_streams", "Server-Sent Event streams open")?;
        let queries = IntCounter::new(
            "payscan_sse_feed_queries_total",
            "database queries the event fan-out made for all streams",
        )?;
        registry.register(Box::new(open.clone()))?;
        registry.register(Box::new(queries.clone()))?;
        Ok(Self {
            store,
            subscribers: Mutex::new(HashMap::new()),
            streams: Arc::new(Semaphore::new(max_streams)),
            open,
            queries,
        })
    }

    /// Follows `payment_id` from now on, or 503 `TOO_MANY_STREAMS` when every place is taken.
    pub fn subscribe(&self, payment_id: &str) -> Result<Subscription, ApiError> {
        let place = self.streams.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(ErrorCode::TooManyStreams, "too many event streams are open; retry shortly")
                .with_retry_after(FULL_RETRY_AFTER)
        })?;
        let (sender, items) = mpsc::channel(BACKLOG);
        self.lock().entry(payment_id.to_owned()).or_default().push(sender);
        self.open.inc();
        Ok(Subscription { items, open: self.open.clone(), _place: place })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Subscribers> {
        // The map holds no invariant a panicking holder could break halfway.
        self.subscribers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands `item` to every stream of `payment_id`; a stream whose backlog is full is dropped.
    fn hand(&self, payment_id: &str, item: &FeedItem) {
        let mut subscribers = self.lock();
        if let Some(senders) = subscribers.get_mut(payment_id) {
            senders.retain(|sender| sender.try_send(item.clone()).is_ok());
            if senders.is_empty() {
                subscribers.remove(payment_id);
            }
        }
    }

    /// The payments streams follow now, after forgetting the streams that ended.
    fn followed(&self) -> Vec<payscan_core::PaymentId> {
        let mut subscribers = self.lock();
        subscribers.retain(|_, senders| {
            senders.retain(|sender| !sender.is_closed());
            !senders.is_empty()
        });
        subscribers.keys().filter_map(|id| id.parse().ok()).collect()
    }

    /// One round: every event after `after`, then the followed payments. Returns the new `after`.
    pub async fn step(&self, mut after: i64) -> Result<i64, payscan_core::store::StoreError> {
        loop {
            let events = self.store.events_since(after, PAGE).await?;
            self.queries.inc();
            let full = events.len() as i64 == PAGE;
            for event in events {
                after = event.ord;
                let payment_id = event.payment_id.clone();
                self.hand(&payment_id, &FeedItem::Event(Arc::new(event)));
            }
            if !full {
                break;
            }
        }
        let followed = self.followed();
        if !followed.is_empty() {
            for payment in self.store.payments_by_ids(&followed).await? {
                let payment_id = payment.id.as_str().to_owned();
                self.hand(&payment_id, &FeedItem::Payment(Arc::new(payment)));
            }
            self.queries.inc();
        }
        Ok(after)
    }

    /// Reads on every local commit and at least every second until cancelled.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) -> Result<(), payscan_core::store::StoreError> {
        let signal = self.store.outbox_signal();
        let mut after = self.store.last_event_ord().await?;
        loop {
            // Registered before the round, so a commit during it wakes the next one.
            let woken = signal.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            match self.step(after).await {
                Ok(next) => after = next,
                Err(e) => warn!(target: "payscan::api", error = %e, "event feed could not read; retrying"),
            }
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = woken => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}
