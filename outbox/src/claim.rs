//! What a claim hands out: a delivery with its place among its target's in-flight deliveries and
//! among this instance's unrecorded claims, each given back when dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use payscan_core::store::DueDelivery;
use tokio::sync::OwnedSemaphorePermit;

/// Deliveries out per target, shared by the claim and the attempts.
pub(crate) type InFlight = Arc<Mutex<HashMap<String, usize>>>;

/// One delivery's place among its target's in-flight deliveries, given back when dropped, so
/// that an attempt that ends in any way frees it.
pub(crate) struct Slot {
    in_flight: InFlight,
    target: String,
}

impl Slot {
    /// Counts one more delivery in flight to `target`.
    pub(crate) fn take(in_flight: &InFlight, map: &mut HashMap<String, usize>, target: &str) -> Self {
        *map.entry(target.to_owned()).or_insert(0) += 1;
        Self { in_flight: in_flight.clone(), target: target.to_owned() }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = map.get_mut(&self.target) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.target);
            }
        }
    }
}

/// A claimed delivery, counted in flight for its target until its attempt ends (the slot) and
/// among this instance's unrecorded claims until its outcome is committed (the permit).
pub struct Claimed {
    pub delivery: DueDelivery,
    pub(crate) slot: Slot,
    pub(crate) unrecorded: OwnedSemaphorePermit,
}
