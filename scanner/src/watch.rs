//! The destinations being watched, in memory, so that matching a log costs one hash lookup
//! whatever the number of open payments.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use alloy::primitives::{Address, B256};
use dashmap::DashMap;
use payscan_core::clock;
use payscan_core::reference::PaymentReference;
use payscan_core::store::payments::WatchEntry;
use payscan_core::store::{Store, StoreError};
use payscan_core::{PaymentId, PaymentStatus, Provider};
use tokio::sync::Mutex;

/// Destination → payment, for every payment that can still receive money. The address is the same
/// on every EVM chain, so one set serves all followers: a transfer on another chain or token than
/// the payment's rail is still seen (and reported as misdirected).
#[derive(Debug, Default)]
pub struct WatchSet {
    by_address: DashMap<Address, PaymentId>,
    /// Fee-proxy log topic (keccak256 of the payment reference) → Request Network payment.
    by_reference: DashMap<B256, (PaymentId, PaymentReference)>,
    /// The newest payment change loaded, and the closed payments still watched, guarded so that
    /// one refresh runs at a time.
    state: Mutex<Loaded>,
    /// How long a cancelled or failed payment stays watched; `None`: for good.
    window: Option<Duration>,
}

/// What a refresh keeps between runs.
#[derive(Debug, Default)]
struct Loaded {
    seq: i64,
    /// Closed payments still watched: (leaves the set at, payment), soonest first.
    closing: BTreeSet<(i64, PaymentId)>,
    /// Each closed payment's current deadline and what it is watched by.
    deadline_of: HashMap<PaymentId, (i64, Address, Option<B256>)>,
}

const PAGE: i64 = 10_000;

impl WatchSet {
    /// A set that watches every destination for good.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set in which a cancelled or failed payment's destination stays watched for `window`
    /// after that change, then leaves: intents that are never paid cannot grow it without bound.
    pub fn with_window(window: Duration) -> Self {
        Self { window: Some(window), ..Self::default() }
    }

    /// A destination stays watched whatever its payment became: money sent after a release is
    /// still recorded and announced (`payment.extra_transfer`), and so is money after an expiry or
    /// a cancellation within the watch window.
    fn watchable(status: PaymentStatus) -> bool {
        match status {
            PaymentStatus::Pending
            | PaymentStatus::Processing
            | PaymentStatus::Confirmed
            | PaymentStatus::Completed
            | PaymentStatus::Failed
            | PaymentStatus::Cancelled
            | PaymentStatus::Released
            | PaymentStatus::Refunded => true,
        }
    }

    /// Payments closed without money: watched only for the window.
    fn closes(status: PaymentStatus) -> bool {
        matches!(status, PaymentStatus::Cancelled | PaymentStatus::Failed)
    }

    /// When a change's destination leaves the set, if it does.
    fn deadline(&self, change: &WatchEntry) -> Option<i64> {
        let window = self.window?;
        Self::closes(change.status)
            .then(|| change.updated_at.saturating_add(i64::try_from(window.as_millis()).unwrap_or(i64::MAX)))
    }

    fn unwatch(&self, id: &PaymentId, destination: &Address, topic: Option<&B256>) {
        if let Some(topic) = topic {
            self.by_reference.remove_if(topic, |_, (watched, _)| watched == id);
        }
        self.by_address.remove_if(destination, |_, watched| watched == id);
    }

    /// Loads payment changes made since the last refresh (by this or any other instance).
    /// Returns how many were applied.
    pub async fn refresh(&self, store: &Store) -> Result<usize, StoreError> {
        let mut loaded = self.state.lock().await;
        let now = clock::now_ms();
        let mut applied = 0;
        loop {
            let changes = store.watch_changes(loaded.seq, PAGE).await?;
            let Some(last) = changes.last() else { break };
            loaded.seq = last.seq;
            let full_page = changes.len() as i64 == PAGE;
            for change in changes {
                let topic = change.reference.map(|r| (r.topic(), r));
                let deadline = self.deadline(&change);
                if let Some((old, ..)) = loaded.deadline_of.remove(&change.payment_id) {
                    loaded.closing.remove(&(old, change.payment_id.clone()));
                }
                if Self::watchable(change.status) && deadline.is_none_or(|at| at > now) {
                    match topic {
                        Some((topic, reference)) if change.provider == Provider::RequestNetwork => {
                            self.by_reference.insert(topic, (change.payment_id.clone(), reference));
                        }
                        Some((topic, _)) => {
                            self.by_reference.remove_if(&topic, |_, (id, _)| *id == change.payment_id);
                        }
                        None => {}
                    }
                    self.by_address.insert(change.destination, change.payment_id.clone());
                    if let Some(at) = deadline {
                        let watched_topic = topic.map(|(t, _)| t);
                        loaded.closing.insert((at, change.payment_id.clone()));
                        loaded.deadline_of.insert(change.payment_id, (at, change.destination, watched_topic));
                    }
                } else {
                    self.unwatch(&change.payment_id, &change.destination, topic.as_ref().map(|(t, _)| t));
                }
                applied += 1;
            }
            if !full_page {
                break;
            }
        }
        // Closed payments whose window is over leave the set.
        while let Some((at, id)) = loaded.closing.first().cloned() {
            if at > now {
                break;
            }
            loaded.closing.remove(&(at, id.clone()));
            if let Some((_, destination, topic)) = loaded.deadline_of.remove(&id) {
                self.unwatch(&id, &destination, topic.as_ref());
                applied += 1;
            }
        }
        Ok(applied)
    }

    pub fn get(&self, address: &Address) -> Option<PaymentId> {
        self.by_address.get(address).map(|id| id.clone())
    }

    /// The Request Network payment whose reference has this topic.
    pub fn by_reference_topic(&self, topic: &B256) -> Option<(PaymentId, PaymentReference)> {
        self.by_reference.get(topic).map(|entry| entry.clone())
    }

    pub fn len(&self) -> usize {
        self.by_address.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty()
    }
}
