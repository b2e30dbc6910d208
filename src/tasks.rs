//! The daemon's named background tasks: one shared cancellation token, each spawned on the task
//! board (payscan_core::tasks) that the followers run on too, so that a task that ends on its own,
//! fails or panics is logged by name and shows in health rather than vanishing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use payscan_core::clock;
use payscan_core::store::{Store, StoreError};
use payscan_core::tasks::TaskBoard;
use payscan_scanner::Supervisor;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

/// The daemon's background tasks.
#[derive(Debug, Default)]
pub struct Tasks {
    cancel: CancellationToken,
    board: TaskBoard,
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

    /// Where every task's state is kept, for health and for the followers' supervisor.
    pub fn board(&self) -> TaskBoard {
        self.board.clone()
    }

    /// Spawns `task`, which should run until the token is cancelled, recording how it ends.
    pub fn spawn<F, E>(&mut self, name: impl Into<String>, task: F)
    where
        F: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let name = name.into();
        let watcher = self.board.spawn(name.clone(), self.cancel.clone(), task, |_| {});
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
