//! Named background tasks with one shared cancellation token. A task that ends on its own, fails
//! or panics is reported by name rather than vanishing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use payscan_core::clock;
use payscan_core::store::{Store, StoreError};
use payscan_scanner::Supervisor;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The daemon's background tasks.
#[derive(Debug, Default)]
pub struct Tasks {
    cancel: CancellationToken,
    handles: Vec<(String, JoinHandle<()>)>,
}

impl Tasks {
    pub fn new() -> Self {
        Self::default()
    }

    /// The token every task watches; cancelling it starts a graceful shutdown.
    pub fn token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Spawns `task`, reporting how it ends.
    pub fn spawn<F, E>(&mut self, name: impl Into<String>, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let name = name.into();
        let cancel = self.cancel.clone();
        let inner = tokio::spawn(task);
        let label = name.clone();
        let watcher = tokio::spawn(async move {
            match inner.await {
                Ok(Ok(())) if cancel.is_cancelled() => info!(task = %label, "task stopped"),
                Ok(Ok(())) => error!(task = %label, "task ended unexpectedly"),
                Ok(Err(e)) => error!(task = %label, error = %e, "task failed"),
                Err(e) if e.is_panic() => error!(task = %label, "task panicked"),
                Err(_) => info!(task = %label, "task aborted"),
            }
        });
        self.handles.push((name, watcher));
    }

    /// Cancels every task and waits for each to finish its current step.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        for (name, handle) in self.handles {
            if handle.await.is_err() {
                error!(task = %name, "task did not stop cleanly");
            }
        }
    }
}

/// Cancels expired payments every `interval` until `cancel`: on the chains this instance follows
/// (with leases, the chains whose lease it holds), so each chain's expiry runs where its cursor
/// moves. A failed pass is logged and the next one tries again.
pub async fn expire_payments(
    store: Store,
    supervisor: Arc<Supervisor>,
    interval: Duration,
    cancel: CancellationToken,
) -> Result<(), StoreError> {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        let chains = supervisor.followed().await;
        if chains.as_ref().is_some_and(Vec::is_empty) {
            continue;
        }
        match payscan_core::expiry::cancel_expired(&store, chains.as_deref(), clock::now_ms()).await {
            Ok(0) => {}
            Ok(cancelled) => info!(target: "payscan::expiry", cancelled, "expired pending payments cancelled"),
            Err(e) => warn!(target: "payscan::expiry", error = %e, "expiry pass failed; the next one retries"),
        }
    }
}
