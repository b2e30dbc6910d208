//! The admin routes' answers: thresholds and their history, the scanner's state.

use payscan_core::registry::{redact_url, Chain, NativeCurrency, Token};
use payscan_core::store::thresholds::ThresholdChange as Change;
use payscan_core::tasks::{TaskRecord, TaskState};
use payscan_core::ChainId;
use payscan_scanner::status::ChainStatus;
use payscan_scanner::supervisor::Reconciled;
use serde::Serialize;
use utoipa::ToSchema;

/// A chain's confirmation threshold, and where it comes from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Threshold {
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub threshold: u64,
    /// `config` or `override`.
    pub source: &'static str,
    pub configured: u64,
    pub floor: u64,
    pub require_finalized: bool,
}

/// `{success, message, data}`: the seed's answer to a threshold change.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThresholdUpdate {
    pub success: bool,
    pub message: String,
    pub data: ThresholdChange,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdChange {
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub threshold: u64,
    pub requested: u64,
    /// The request was below the floor and was raised to it.
    pub clamped: bool,
    pub floor: u64,
    pub previous: u64,
}

/// One change of a threshold: who, from what, to what.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdHistory {
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub old_threshold: u64,
    pub new_threshold: u64,
    pub requested: u64,
    pub changed_by: String,
    pub changed_at: String,
}

impl From<&Change> for ThresholdHistory {
    fn from(c: &Change) -> Self {
        Self {
            chain_id: c.chain_id,
            old_threshold: c.old_threshold,
            new_threshold: c.new_threshold,
            requested: c.requested,
            changed_by: c.changed_by.clone(),
            changed_at: payscan_core::clock::rfc3339(c.changed_at),
        }
    }
}

/// The scanner as operators see it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScannerStatus {
    pub chains: Vec<ScannerChain>,
    pub watched_destinations: usize,
    pub outbox_depth: i64,
}

/// One chain's follower, with its lag.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScannerChain {
    #[serde(flatten)]
    pub status: ChainStatus,
    pub lag_blocks: Option<u64>,
    pub lag_seconds: Option<u64>,
    pub down: bool,
}

impl From<ChainStatus> for ScannerChain {
    fn from(status: ChainStatus) -> Self {
        Self { lag_blocks: status.lag_blocks(), lag_seconds: status.lag_seconds(), down: status.is_down(), status }
    }
}

/// Deliveries put back in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Requeued {
    pub requeued: u64,
}

/// An unwind of a halted chain, authorized.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnwindAuthorized {
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub max_depth: u64,
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Liveness {
    pub success: bool,
    pub message: &'static str,
    pub version: &'static str,
    #[schema(value_type = Vec<u64>)]
    pub chains: Vec<ChainId>,
    /// Every route, as `METHOD /path`.
    pub endpoints: Vec<String>,
    /// `degraded` while a background task that should be running has failed (see `tasks`).
    pub status: HealthStatus,
    /// This instance's background tasks (its role decides which run), by name.
    pub tasks: Vec<TaskView>,
}

/// Whether every background task that should run is running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Degraded,
}

/// A background task (`webhook-dispatcher`, `follower-<chainId>`, …) and how it is doing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub name: String,
    pub state: TaskState,
    /// Why it failed (an error, `panicked`), its URLs redacted.
    pub error: Option<String>,
    /// RFC 3339.
    pub started_at: String,
    /// RFC 3339, once it ended.
    pub ended_at: Option<String>,
}

impl From<TaskRecord> for TaskView {
    fn from(task: TaskRecord) -> Self {
        Self {
            name: task.name,
            state: task.state,
            error: task.error,
            started_at: task.started_at,
            ended_at: task.ended_at,
        }
    }
}

/// What payscan's own receiver did with a webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Received {
    pub webhook_id: String,
    /// `processed`, or `duplicate` for a `webhook-id` seen before.
    pub status: &'static str,
}

/// A chain of the registry, with its tokens.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    #[schema(value_type = u64)]
    pub chain_id: ChainId,
    pub name: String,
    pub short_name: String,
    /// Without path or query (they may hold keys).
    pub rpc_url: String,
    /// The `newHeads` WebSocket endpoint, likewise redacted.
    pub ws_url: Option<String>,
    pub public_rpc_url: Option<String>,
    pub block_explorer: Option<String>,
    #[schema(value_type = Option<crate::schemas::Address>)]
    pub proxy_address: Option<String>,
    #[schema(value_type = Object)]
    pub native_currency: NativeCurrency,
    pub confirmation_threshold: u64,
    pub confirmation_floor: u64,
    pub require_finalized: bool,
    #[schema(value_type = Vec<Object>)]
    pub tokens: Vec<Token>,
}

impl From<&Chain> for Network {
    fn from(chain: &Chain) -> Self {
        Self {
            chain_id: chain.chain_id,
            name: chain.name.clone(),
            short_name: chain.short_name.clone(),
            rpc_url: redact_url(&chain.rpc_url),
            ws_url: chain.ws_url.as_deref().map(redact_url),
            public_rpc_url: chain.public_rpc_url.clone(),
            block_explorer: chain.block_explorer.clone(),
            proxy_address: chain.proxy_address.map(|a| a.to_checksum(None)),
            native_currency: chain.native_currency.clone(),
            confirmation_threshold: chain.confirmation_threshold,
            confirmation_floor: chain.confirmation_floor,
            require_finalized: chain.require_finalized,
            tokens: chain.tokens.clone(),
        }
    }
}

/// `{success, data, meta}`: the registry, as the seed lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkList {
    pub success: bool,
    pub data: Vec<Network>,
    pub meta: NetworkCounts,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkCounts {
    pub chain_count: usize,
    pub token_count: usize,
}

/// `{success, message, data}`: a registry reload.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReloadAnswer {
    pub success: bool,
    pub message: &'static str,
    pub data: ReloadReport,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReloadReport {
    pub chain_count: usize,
    /// Followers started, stopped and restarted.
    #[schema(value_type = Object)]
    pub followers: Reconciled,
}
