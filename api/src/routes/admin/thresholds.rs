//! Confirmation thresholds: the effective value per chain, admin overrides (never below the
//! chain's floor) and their history.

use axum::extract::State;
use axum::Json;
use payscan_core::store::thresholds::ThresholdChange as StoredChange;
use payscan_core::{clock, ChainId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{chain_or_404, Page};
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use crate::views::admin::{Threshold, ThresholdChange, ThresholdHistory, ThresholdUpdate};
use crate::views::{Envelope, Paged, Pagination};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(history)).routes(routes!(update))
}

/// Confirmation thresholds.
///
/// Each chain's effective confirmation threshold: an admin's override, else the configured
/// one, never below the chain's floor.
#[utoipa::path(
    get,
    path = "/api/admin/settings/confirmation-thresholds",
    operation_id = "listConfirmationThresholds",
    tag = "admin",
    responses((status = 200, description = "One row per chain", body = Envelope<Vec<Threshold>>)),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Envelope<Vec<Threshold>>>, ApiError> {
    let registry = state.registry.current();
    let overrides = state.store.threshold_overrides().await?;
    let data = registry
        .chains()
        .iter()
        .map(|chain| {
            let admin_override = overrides.get(&chain.chain_id).copied();
            Threshold {
                chain_id: chain.chain_id,
                threshold: chain.effective_threshold(admin_override),
                source: if admin_override.is_some() { "override" } else { "config" },
                configured: chain.confirmation_threshold,
                floor: chain.confirmation_floor,
                require_finalized: chain.require_finalized,
            }
        })
        .collect();
    Ok(Envelope::of(data))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(in crate::routes) struct ThresholdBody {
    /// 1 to 1,000,000 blocks; below the chain's floor it is raised to the floor.
    #[serde(deserialize_with = "crate::extract::whole")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    threshold: u64,
}

/// The largest threshold an admin may set; a typo of extra zeros must not freeze payments for years.
const MAX_THRESHOLD: u64 = 1_000_000;

/// Override a chain's threshold.
///
/// Overrides a chain's threshold from the next evaluation on; below the floor it is raised to
/// the floor, and the answer says so.
#[utoipa::path(
    patch,
    path = "/api/admin/settings/confirmation-thresholds/{chainId}",
    operation_id = "updateConfirmationThreshold",
    tag = "admin",
    params(("chainId" = i64, Path, minimum = 1, description = "A chain id of the registry")),
    request_body = ThresholdBody,
    responses((status = 200, description = "The threshold now", body = ThresholdUpdate)),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn update(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(chain_id): ApiPath<ChainId>,
    ApiJson(body): ApiJson<ThresholdBody>,
) -> Result<Json<ThresholdUpdate>, ApiError> {
    let registry = state.registry.current();
    let chain = chain_or_404(&registry, chain_id)?;
    if body.threshold == 0 || body.threshold > MAX_THRESHOLD {
        return Err(ApiError::validation(format!("threshold must be between 1 and {MAX_THRESHOLD}")));
    }
    let old = chain.effective_threshold(state.store.threshold_override(chain_id).await?);
    let new = body.threshold.max(chain.confirmation_floor);
    let clamped = new != body.threshold;
    state
        .store
        .set_threshold(&StoredChange {
            chain_id,
            old_threshold: old,
            new_threshold: new,
            requested: body.threshold,
            changed_by: admin.user_id.clone(),
            changed_at: clock::now_ms(),
        })
        .await?;
    tracing::info!(target: "payscan::api", %chain_id, old, new, requested = body.threshold, by = %admin.user_id, "confirmation threshold changed");
    let message = if clamped {
        format!(
            "Confirmation threshold for chain {chain_id} updated to {new}: {} is below the chain's floor of {}",
            body.threshold, chain.confirmation_floor
        )
    } else {
        format!("Confirmation threshold for chain {chain_id} updated to {new}")
    };
    let data = ThresholdChange {
        chain_id,
        threshold: new,
        requested: body.threshold,
        clamped,
        floor: chain.confirmation_floor,
        previous: old,
    };
    Ok(Json(ThresholdUpdate { success: true, message, data }))
}

/// Threshold history.
///
/// Who changed which threshold from what to what, and when.
#[utoipa::path(
    get,
    path = "/api/admin/settings/confirmation-thresholds/history",
    operation_id = "listThresholdHistory",
    tag = "admin",
    params(Page),
    responses((status = 200, description = "A page of changes", body = Paged<ThresholdHistory>)),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn history(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Paged<ThresholdHistory>>, ApiError> {
    let paging = page.bounds(50)?;
    let (changes, total) = state.store.threshold_history(page.chain()?, paging.limit, paging.offset).await?;
    Ok(Paged::of(changes.iter().map(ThresholdHistory::from).collect(), Pagination::counted(paging, total)))
}
