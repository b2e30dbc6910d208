//! Runs one follower per registry chain and keeps that true when the registry is reloaded:
//! followers start for added chains, stop for removed ones, restart for changed ones.

use std::collections::HashMap;
use std::sync::Arc;

use payscan_core::config::ScannerConfig;
use payscan_core::registry::{Chain, Registry};
use payscan_core::store::Store;
use payscan_core::ChainId;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::error::FollowerError;
use crate::follower::Follower;
use crate::metrics::ScannerMetrics;
use crate::status::{ChainState, ScannerStatus};
use crate::watch::WatchSet;

/// What every follower shares.
#[derive(Clone)]
pub struct FollowerContext {
    pub store: Store,
    pub watch: Arc<WatchSet>,
    pub metrics: ScannerMetrics,
    pub status: Arc<ScannerStatus>,
    pub settings: ScannerConfig,
}

struct Running {
    chain: Chain,
    cancel: CancellationToken,
    handle: JoinHandle<()>,
}

/// Which followers a reconcile started, stopped and restarted.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Reconciled {
    pub started: Vec<ChainId>,
    pub stopped: Vec<ChainId>,
    pub restarted: Vec<ChainId>,
}

/// The followers.
pub struct Supervisor {
    context: FollowerContext,
    cancel: CancellationToken,
    running: Mutex<HashMap<ChainId, Running>>,
}

impl Supervisor {
    /// Followers stop when `cancel` is cancelled.
    pub fn new(context: FollowerContext, cancel: CancellationToken) -> Self {
        Self { context, cancel, running: Mutex::new(HashMap::new()) }
    }

    /// Makes the running followers match `registry`. A follower being replaced finishes its
    /// current step before the new one starts, so two never follow one chain.
    pub async fn reconcile(&self, registry: &Registry) -> Result<Reconciled, FollowerError> {
        let mut running = self.running.lock().await;
        let mut report = Reconciled::default();
        let wanted: HashMap<ChainId, &Chain> = registry.chains().iter().map(|c| (c.chain_id, c)).collect();

        let gone: Vec<ChainId> =
            running.keys().filter(|id| wanted.get(id).is_none_or(|c| **c != running[id].chain)).copied().collect();
        for id in gone {
            if let Some(old) = running.remove(&id) {
                old.cancel.cancel();
                let _ = old.handle.await;
            }
            if wanted.contains_key(&id) {
                report.restarted.push(id);
            } else {
                self.context.status.remove(id);
                report.stopped.push(id);
            }
        }
        for chain in registry.chains() {
            if running.contains_key(&chain.chain_id) {
                continue;
            }
            running.insert(chain.chain_id, self.spawn(chain.clone())?);
            if !report.restarted.contains(&chain.chain_id) {
                report.started.push(chain.chain_id);
            }
        }
        Ok(report)
    }

    fn spawn(&self, chain: Chain) -> Result<Running, FollowerError> {
        let chain_id = chain.chain_id;
        // A restarted chain is starting, not stopped: the old follower's end is history.
        self.context.status.update(chain_id, |s| {
            s.state = ChainState::Starting;
            s.unreachable_ticks = 0;
        });
        let follower = Follower::new(chain.clone(), self.context.clone())?;
        let cancel = self.cancel.child_token();
        let status = self.context.status.clone();
        let poll = self.context.settings.poll_interval;
        let task = tokio::spawn(follower.run(cancel.clone(), poll));
        // Watches the follower so that an error or a panic is reported, never lost.
        let handle = tokio::spawn(async move {
            match task.await {
                Ok(Ok(())) => {
                    status.stopped(chain_id, None);
                    info!(%chain_id, "follower stopped");
                }
                Ok(Err(e)) => {
                    status.stopped(chain_id, Some(&e.to_string()));
                    error!(%chain_id, error = %e, "follower stopped by an error");
                }
                Err(e) => {
                    let what = if e.is_panic() { "panicked" } else { "was aborted" };
                    status.stopped(chain_id, Some(&format!("follower {what}")));
                    error!(%chain_id, "follower {what}");
                }
            }
        });
        Ok(Running { chain, cancel, handle })
    }

    /// Stops every follower and waits for each to finish its current step.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let mut running = self.running.lock().await;
        for (_, follower) in running.drain() {
            let _ = follower.handle.await;
        }
    }
}
