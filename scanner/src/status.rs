//! What each follower is doing, for `GET /api/admin/scanner/status` and for routes that must not
//! send buyers to a chain payscan cannot follow.

use dashmap::DashMap;
use payscan_core::{clock, ChainId};
use serde::Serialize;

/// A follower's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ChainState {
    #[default]
    Starting,
    Following,
    /// Its RPC calls fail; it retries with backoff.
    Failing,
    /// It stopped: removed from the registry, shut down, or stopped by an error retrying cannot
    /// fix (see `lastError`).
    Stopped,
    /// It met a reorg deeper than `PAYSCAN_MAX_REORG_DEPTH` and reads nothing from the chain
    /// until an operator authorizes an unwind (see `lastError`).
    Halted,
    /// Another instance holds the chain's lease and follows it; this one takes over if that one
    /// stops renewing it.
    Standby,
}

/// One chain's follower, as last reported.
#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ChainStatus {
    pub chain_id: u64,
    pub state: ChainState,
    /// The RPC in use, without path or query (they may hold an API key).
    pub rpc: String,
    pub head: Option<u64>,
    pub cursor: Option<u64>,
    /// Unix seconds of the cursor's block.
    pub cursor_timestamp: Option<u64>,
    pub consecutive_errors: u32,
    /// Ticks in a row in which no RPC endpoint answered at all.
    pub unreachable_ticks: u32,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub last_success_at: Option<String>,
}

/// Ticks in a row without any endpoint answering, after which a chain counts as down.
const DOWN_AFTER: u32 = 3;

impl ChainStatus {
    pub fn lag_blocks(&self) -> Option<u64> {
        Some(self.head?.saturating_sub(self.cursor?))
    }

    /// Seconds between now and the cursor block's timestamp.
    pub fn lag_seconds(&self) -> Option<u64> {
        let now = u64::try_from(clock::now_ms() / 1000).ok()?;
        Some(now.saturating_sub(self.cursor_timestamp?))
    }

    /// No RPC endpoint has been answering, or the follower stopped or is halted. A flaky endpoint that
    /// answers some calls is not down.
    pub fn is_down(&self) -> bool {
        matches!(self.state, ChainState::Stopped | ChainState::Halted) || self.unreachable_ticks >= DOWN_AFTER
    }
}

/// Every follower's status.
#[derive(Debug, Default)]
pub struct ScannerStatus {
    chains: DashMap<ChainId, ChainStatus>,
}

impl ScannerStatus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn update(&self, chain_id: ChainId, change: impl FnOnce(&mut ChainStatus)) {
        let mut entry =
            self.chains.entry(chain_id).or_insert_with(|| ChainStatus { chain_id: chain_id.0, ..Default::default() });
        change(&mut entry);
    }

    /// No endpoint answered this tick.
    pub fn unreachable(&self, chain_id: ChainId) {
        self.update(chain_id, |s| s.unreachable_ticks = s.unreachable_ticks.saturating_add(1));
    }

    pub fn succeeded(&self, chain_id: ChainId) {
        self.update(chain_id, |s| {
            s.state = ChainState::Following;
            s.consecutive_errors = 0;
            s.unreachable_ticks = 0;
            s.last_success_at = Some(clock::rfc3339(clock::now_ms()));
        });
    }

    pub fn failed(&self, chain_id: ChainId, error: &str) {
        self.update(chain_id, |s| {
            s.state = ChainState::Failing;
            s.consecutive_errors = s.consecutive_errors.saturating_add(1);
            s.last_error = Some(error.to_owned());
            s.last_error_at = Some(clock::rfc3339(clock::now_ms()));
        });
    }

    pub fn stopped(&self, chain_id: ChainId, error: Option<&str>) {
        self.update(chain_id, |s| {
            s.state = ChainState::Stopped;
            if let Some(error) = error {
                s.last_error = Some(error.to_owned());
                s.last_error_at = Some(clock::rfc3339(clock::now_ms()));
            }
        });
    }

    pub fn get(&self, chain_id: ChainId) -> Option<ChainStatus> {
        self.chains.get(&chain_id).map(|s| s.clone())
    }

    pub fn remove(&self, chain_id: ChainId) {
        self.chains.remove(&chain_id);
    }

    /// All chains, by id.
    pub fn all(&self) -> Vec<ChainStatus> {
        let mut all: Vec<ChainStatus> = self.chains.iter().map(|s| s.clone()).collect();
        all.sort_by_key(|s| s.chain_id);
        all
    }

    pub fn is_down(&self, chain_id: ChainId) -> bool {
        self.get(chain_id).is_some_and(|s| s.is_down())
    }
}
