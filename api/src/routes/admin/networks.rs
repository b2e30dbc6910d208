//! The chain and token registry: list, reload from disk without a restart, live probe.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use payscan_core::ChainId;
use payscan_scanner::{probe, ReloadError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::chain_or_404;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorCode};
use crate::extract::ApiPath;
use crate::schemas::{ErrorBody, Probe};
use crate::state::AppState;
use crate::views::admin::{Network, NetworkCounts, NetworkList, ReloadAnswer, ReloadReport};
use crate::views::Envelope;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(reload)).routes(routes!(probe))
}

/// The chain and token registry.
///
/// The chain and token registry (RPC URLs without path or query: they may hold keys).
#[utoipa::path(
    get,
    path = "/api/admin/rn/networks",
    operation_id = "listNetworks",
    tag = "admin",
    responses((status = 200, description = "Every chain with its tokens", body = NetworkList)),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<NetworkList>, ApiError> {
    let registry = state.registry.current();
    let token_count = registry.chains().iter().map(|c| c.tokens.len()).sum();
    Ok(Json(NetworkList {
        success: true,
        data: registry.chains().iter().map(Network::from).collect(),
        meta: NetworkCounts { chain_count: registry.chains().len(), token_count },
    }))
}

/// Reload the registry.
///
/// Re-reads chains.json and tokens.json without a restart. An invalid file is refused and the
/// old registry stays. The reload is recorded, and every instance sharing the database applies it
/// in its role within a second: API instances serve the new chains and tokens, scanner instances
/// start, stop and restart followers for added, removed and changed chains.
#[utoipa::path(
    post,
    path = "/api/admin/rn/networks/reload",
    operation_id = "reloadNetworks",
    tag = "admin",
    responses(
        (status = 200, description = "Reloaded", body = ReloadAnswer),
        (status = 400, description = "The files are invalid (`REGISTRY_INVALID`); nothing changed", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn reload(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<ReloadAnswer>, ApiError> {
    // Files are read and validated whole first: an invalid file leaves the live registry alone.
    let reloaded = state.reloader.reload(&admin.user_id).await.map_err(|e| match e {
        ReloadError::Invalid(e) => ApiError::new(ErrorCode::RegistryInvalid, e.to_string()),
        other => ApiError::internal(other),
    })?;
    let (chains, followers) = (reloaded.chains, reloaded.followers);
    tracing::info!(target: "payscan::api", by = %admin.user_id, chains, generation = reloaded.generation, ?followers, "registry reloaded");
    Ok(Json(ReloadAnswer {
        success: true,
        message: "Registry reloaded from disk",
        data: ReloadReport { chain_count: chains, followers },
    }))
}

/// How long a probe waits for the RPC.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Probe a chain.
///
/// Probes a chain's RPC and fee proxy: reachable, head, latency, chain id, bytecode at the
/// proxy, and a dummy call that must revert with a reason.
#[utoipa::path(
    post,
    path = "/api/admin/rn/networks/probe/{chainId}",
    operation_id = "probeNetwork",
    tag = "admin",
    params(("chainId" = i64, Path, minimum = 1, description = "A chain id of the registry")),
    responses(
        (status = 200, description = "What the probe found", body = Envelope<Probe>),
        (status = 503, description = "The RPC did not answer (`CHAIN_UNAVAILABLE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn probe(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(chain_id): ApiPath<ChainId>,
) -> Result<Json<Envelope<Probe>>, ApiError> {
    let registry = state.registry.current();
    let chain = chain_or_404(&registry, chain_id)?;
    let report = probe::probe(chain, PROBE_TIMEOUT).await.map_err(|e| {
        tracing::warn!(target: "payscan::api", %chain_id, error = %e, "probe failed");
        ApiError::new(ErrorCode::ChainUnavailable, format!("chain {chain_id}'s RPC did not answer: {}", e.kind()))
    })?;
    Ok(Envelope::of(report))
}
