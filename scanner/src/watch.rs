//! The destinations being watched, in memory, so that matching a log costs one hash lookup
//! whatever the number of open payments.

use alloy::primitives::{Address, B256};
use dashmap::DashMap;
use payscan_core::reference::PaymentReference;
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
    /// The newest payment change loaded, guarded so that one refresh runs at a time.
    seq: Mutex<i64>,
}

const PAGE: i64 = 10_000;

impl WatchSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// A destination stays watched whatever its payment became: money sent after an expiry, a
    /// cancellation or a release is still recorded and announced (`payment.extra_transfer`).
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

    /// Loads payment changes made since the last refresh (by this or any other instance).
    /// Returns how many were applied.
    pub async fn refresh(&self, store: &Store) -> Result<usize, StoreError> {
        let mut seq = self.seq.lock().await;
        let mut applied = 0;
        loop {
            let changes = store.watch_changes(*seq, PAGE).await?;
            let Some(last) = changes.last() else { break };
            *seq = last.seq;
            let full_page = changes.len() as i64 == PAGE;
            for change in changes {
                let topic = change.reference.map(|r| (r.topic(), r));
                if Self::watchable(change.status) {
                    match topic {
                        Some((topic, reference)) if change.provider == Provider::RequestNetwork => {
                            self.by_reference.insert(topic, (change.payment_id.clone(), reference));
                        }
                        Some((topic, _)) => {
                            self.by_reference.remove_if(&topic, |_, (id, _)| *id == change.payment_id);
                        }
                        None => {}
                    }
                    self.by_address.insert(change.destination, change.payment_id);
                } else {
                    if let Some((topic, _)) = topic {
                        self.by_reference.remove_if(&topic, |_, (id, _)| *id == change.payment_id);
                    }
                    self.by_address.remove_if(&change.destination, |_, id| *id == change.payment_id);
                }
                applied += 1;
            }
            if !full_page {
                break;
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
