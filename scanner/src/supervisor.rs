//! Runs one follower per registry chain and keeps that true when the registry is reloaded:
//! followers start for added chains, stop for removed ones, restart for changed ones. Each runs
//! on the daemon's task board as `follower-<chainId>`, which records how it ended.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use payscan_core::clock;
use payscan_core::config::ScannerConfig;
use payscan_core::registry::{Chain, Registry, SharedRegistry};
use payscan_core::store::Store;
use payscan_core::tasks::{Ending, TaskBoard};
use payscan_core::ChainId;
use serde::Serialize;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::FollowerError;
use crate::follower::Follower;
use crate::metrics::ScannerMetrics;
use crate::status::{ChainState, ChainStatus, ScannerStatus};
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

/// Chain leases, when several instances share one database: a chain is followed only by the
/// instance holding its lease.
#[derive(Debug, Clone)]
pub struct Lease {
    /// This instance, as the lease table names it.
    pub holder: String,
    /// A lease not renewed within this long is anyone's.
    pub ttl: Duration,
}

struct Running {
    chain: Chain,
    cancel: CancellationToken,
    handle: JoinHandle<()>,
    /// The follower stopped on finding its lease taken over: started again if it is held again.
    lease_lost: Arc<AtomicBool>,
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
    lease: Option<Lease>,
    tasks: TaskBoard,
}

impl Supervisor {
    /// Followers run on `tasks` and stop when `cancel` is cancelled.
    pub fn new(context: FollowerContext, cancel: CancellationToken, tasks: TaskBoard) -> Self {
        Self { context, cancel, running: Mutex::new(HashMap::new()), lease: None, tasks }
    }

    /// Follows only the chains whose lease this instance holds.
    pub fn with_lease(mut self, lease: Lease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The chains whose work is this instance's: with leases, those it follows now; without,
    /// every chain (`None`).
    pub async fn followed(&self) -> Option<Vec<ChainId>> {
        self.lease.as_ref()?;
        Some(self.running.lock().await.keys().copied().collect())
    }

    /// The chains of `registry` this instance may follow now: all of them, or with leases those
    /// whose lease it took or renewed.
    async fn held(&self, registry: &Registry) -> Result<HashSet<ChainId>, FollowerError> {
        let Some(lease) = &self.lease else {
            return Ok(registry.chains().iter().map(|c| c.chain_id).collect());
        };
        let ttl = i64::try_from(lease.ttl.as_millis()).unwrap_or(i64::MAX / 4);
        let mut held = HashSet::new();
        for chain in registry.chains() {
            if self.context.store.try_lease(chain.chain_id, &lease.holder, ttl, clock::now_ms()).await? {
                held.insert(chain.chain_id);
            }
        }
        Ok(held)
    }

    /// Renews this instance's leases and takes expired ones, reconciling the followers with
    /// them, until cancelled. A holder that dies stops renewing: within one lease the chain is
    /// followed again, by whoever takes it.
    pub async fn keep_leases(
        self: Arc<Self>,
        registry: SharedRegistry,
        cancel: CancellationToken,
    ) -> Result<(), std::convert::Infallible> {
        let every = self.lease.as_ref().map_or(Duration::from_secs(1), |l| l.ttl / 3);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(every) => {}
            }
            match self.reconcile_current(&registry).await {
                Ok(report) if !report.started.is_empty() || !report.stopped.is_empty() => {
                    info!(started = ?report.started, stopped = ?report.stopped, "chain leases changed hands");
                }
                Ok(_) => {}
                Err(e) => warn!(error = %e, "renewing chain leases failed; retrying"),
            }
        }
    }

    /// Makes the running followers match `registry`. A follower being replaced finishes its
    /// current step before the new one starts, so two never follow one chain.
    pub async fn reconcile(&self, registry: &Registry) -> Result<Reconciled, FollowerError> {
        let mut running = self.running.lock().await;
        self.reconcile_locked(&mut running, registry).await
    }

    /// [`Supervisor::reconcile`] with the registry in force once the followers are locked: a
    /// renewal that read the registry before a reload cannot bring the old one back after it.
    pub async fn reconcile_current(&self, registry: &SharedRegistry) -> Result<Reconciled, FollowerError> {
        let mut running = self.running.lock().await;
        let current = registry.current();
        self.reconcile_locked(&mut running, &current).await
    }

    async fn reconcile_locked(
        &self,
        running: &mut HashMap<ChainId, Running>,
        registry: &Registry,
    ) -> Result<Reconciled, FollowerError> {
        let mut report = Reconciled::default();
        let held = self.held(registry).await?;
        let wanted: HashMap<ChainId, &Chain> =
            registry.chains().iter().filter(|c| held.contains(&c.chain_id)).map(|c| (c.chain_id, c)).collect();
        let listed: HashSet<ChainId> = registry.chains().iter().map(|c| c.chain_id).collect();

        let gone: Vec<ChainId> = running
            .iter()
            .filter(|(id, r)| wanted.get(id).is_none_or(|c| **c != r.chain) || r.lease_lost.load(Ordering::Relaxed))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(old) = running.remove(&id) {
                old.cancel.cancel();
                let _ = old.handle.await;
            }
            if wanted.contains_key(&id) {
                report.restarted.push(id);
            } else {
                self.context.status.remove(id);
                self.tasks.forget(&task_name(id));
                report.stopped.push(id);
            }
        }
        for id in listed.iter().filter(|id| !held.contains(id)) {
            self.context.status.update(*id, |s| {
                *s = ChainStatus { chain_id: id.0, state: ChainState::Standby, ..ChainStatus::default() };
            });
        }
        for chain in registry.chains().iter().filter(|c| held.contains(&c.chain_id)) {
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
        let mut follower = Follower::new(chain.clone(), self.context.clone())?;
        if let Some(lease) = &self.lease {
            follower = follower.with_lease(&lease.holder, lease.ttl);
        }
        let lease_lost = Arc::new(AtomicBool::new(false));
        let lost = lease_lost.clone();
        let cancel = self.cancel.child_token();
        let status = self.context.status.clone();
        let poll = self.context.settings.poll_interval;
        let task = {
            let cancel = cancel.clone();
            let status = status.clone();
            async move {
                match follower.run(cancel.clone(), poll).await {
                    // Not a failure: the chain is another instance's now, and this one stands by
                    // (its token is cancelled so the board records it stopped, not failed).
                    Err(e @ FollowerError::LeaseLost) => {
                        cancel.cancel();
                        lost.store(true, Ordering::Relaxed);
                        status.stopped(chain_id, Some(&e.to_string()));
                        warn!(%chain_id, "chain lease taken over by another instance; follower stopped before committing");
                        Ok(())
                    }
                    other => other,
                }
            }
        };
        let handle = self.tasks.spawn(task_name(chain_id), cancel.clone(), task, move |ending| match ending {
            Ending::Stopped | Ending::Aborted => status.stopped(chain_id, None),
            Ending::Unexpected => status.stopped(chain_id, Some("follower ended before it was asked to stop")),
            Ending::Failed(e) => status.stopped(chain_id, Some(&e.to_string())),
            Ending::Panicked => status.stopped(chain_id, Some("follower panicked")),
        });
        Ok(Running { chain, cancel, handle, lease_lost })
    }

    /// Stops every follower, waits for each to finish its current step, and gives its lease up
    /// so another instance takes the chain at once.
    pub async fn shutdown(&self) {
        self.cancel.cancel();
        let mut running = self.running.lock().await;
        for (chain_id, follower) in running.drain() {
            let _ = follower.handle.await;
            if let Some(lease) = &self.lease {
                if let Err(e) = self.context.store.release_lease(chain_id, &lease.holder).await {
                    warn!(%chain_id, error = %e, "could not release the chain lease; it expires on its own");
                }
            }
        }
    }
}

/// A follower's name on the task board.
fn task_name(chain_id: ChainId) -> String {
    format!("follower-{chain_id}")
}
