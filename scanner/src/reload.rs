//! Registry reloads across instances. An admin's reload, on whichever instance receives it, is
//! recorded as a new generation in the database; every instance notices a generation newer than
//! the one it applied, re-reads its registry files and applies them in its role: API instances
//! serve the new chains and tokens and follow none, scanner instances also restart their
//! followers under their chain leases.

use std::sync::Arc;
use std::time::Duration;

use payscan_core::clock;
use payscan_core::registry::{Registry, RegistryError, RegistrySource, SharedRegistry};
use payscan_core::store::{Store, StoreError};
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::error::FollowerError;
use crate::supervisor::{Reconciled, Supervisor};

/// Why a reload did not apply.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The files are invalid: the registry in force stays.
    #[error(transparent)]
    Invalid(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Follower(#[from] FollowerError),
}

/// What a reload applied on this instance.
#[derive(Debug, Clone)]
pub struct Reloaded {
    pub generation: i64,
    pub chains: usize,
    pub followers: Reconciled,
}

/// This instance's side of registry reloads.
pub struct Reloader {
    source: RegistrySource,
    registry: SharedRegistry,
    store: Store,
    /// The followers to restart: `None` on an API instance, which follows no chain.
    supervisor: Option<Arc<Supervisor>>,
    /// The generation in force here; held while one applies, so that two never interleave.
    applied: Mutex<i64>,
}

impl Reloader {
    /// The registry in `registry` is taken to be the one the database's generation names.
    pub async fn new(
        source: RegistrySource,
        registry: SharedRegistry,
        store: Store,
        supervisor: Option<Arc<Supervisor>>,
    ) -> Result<Self, StoreError> {
        let applied = Mutex::new(store.registry_generation().await?);
        Ok(Self { source, registry, store, supervisor, applied })
    }

    /// An admin's reload: reads and validates the files (an invalid one changes nothing and is
    /// recorded nowhere), records a new generation for the other instances, applies it here.
    pub async fn reload(&self, by: &str) -> Result<Reloaded, ReloadError> {
        let registry = self.source.load()?;
        let mut applied = self.applied.lock().await;
        let generation = self.store.bump_registry_generation(by, clock::now_ms()).await?;
        *applied = generation;
        self.apply(generation, registry).await
    }

    /// Applies a generation another instance recorded; `None` when there is none newer.
    pub async fn catch_up(&self) -> Result<Option<Reloaded>, ReloadError> {
        let generation = self.store.registry_generation().await?;
        let mut applied = self.applied.lock().await;
        if generation <= *applied {
            return Ok(None);
        }
        // Files invalid here are reported once; the next reload, once they are fixed, applies.
        *applied = generation;
        let registry = self.source.load()?;
        let reloaded = self.apply(generation, registry).await;
        if reloaded.is_err() {
            // The registry is in force already; the followers are asked again next time.
            *applied = generation - 1;
        }
        reloaded.map(Some)
    }

    async fn apply(&self, generation: i64, registry: Registry) -> Result<Reloaded, ReloadError> {
        let chains = registry.chains().len();
        self.registry.replace(registry);
        let followers = match &self.supervisor {
            Some(supervisor) => supervisor.reconcile_current(&self.registry).await?,
            None => Reconciled::default(),
        };
        Ok(Reloaded { generation, chains, followers })
    }

    /// Looks for a newer generation every `every` until cancelled.
    pub async fn run(
        self: Arc<Self>,
        every: Duration,
        cancel: CancellationToken,
    ) -> Result<(), std::convert::Infallible> {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return Ok(()),
                _ = tokio::time::sleep(every) => {}
            }
            match self.catch_up().await {
                Ok(Some(r)) => info!(
                    target: "payscan::scanner",
                    generation = r.generation,
                    chains = r.chains,
                    followers = ?r.followers,
                    "registry reloaded by another instance"
                ),
                Ok(None) => {}
                Err(e) => warn!(target: "payscan::scanner", error = %e, "applying a registry reload failed"),
            }
        }
    }
}
