//! Named background tasks with one shared cancellation token. A task that ends on its own, fails
//! or panics is reported by name rather than vanishing.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

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
