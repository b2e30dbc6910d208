//! The scanner as operators see it, a lever over its webhooks, and the way out of a halt.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use payscan_core::{clock, ChainId, PaymentId};
use serde::Deserialize;
use utoipa::ToSchema;

use payscan_core::store::cursors::KEEP_HASHES;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::chain_or_404;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::schemas::ErrorBody;
use crate::state::AppState;
use crate::views::admin::{Requeued, ScannerChain, ScannerStatus, UnwindAuthorized};
use crate::views::Envelope;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status)).routes(routes!(retry_webhooks)).routes(routes!(unwind))
}

/// The scanner's status.
///
/// Per chain: state, head, cursor, lag in blocks and seconds, last error, the RPC in use; the
/// watched destinations and the outbox depth.
#[utoipa::path(
    get,
    path = "/api/admin/scanner/status",
    operation_id = "getScannerStatus",
    tag = "admin",
    responses((status = 200, description = "The scanner", body = Envelope<ScannerStatus>)),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn status(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Envelope<ScannerStatus>>, ApiError> {
    Ok(Envelope::of(ScannerStatus {
        chains: state.status.all().into_iter().map(ScannerChain::from).collect(),
        watched_destinations: state.watch.len(),
        outbox_depth: state.store.outbox_depth().await?,
    }))
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(in crate::routes) struct RetryBody {
    /// A payment id (`pay_…`); every delivery when absent.
    #[schema(value_type = Option<payscan_core::PaymentId>)]
    intent_id: Option<String>,
}

/// Retry webhook deliveries.
///
/// Deliveries in manual review get a fresh retry schedule and waiting ones are due now; of one
/// payment (`intentId`) or of all.
#[utoipa::path(
    post,
    path = "/api/admin/scanner/webhooks/retry",
    operation_id = "retryWebhooks",
    tag = "admin",
    request_body(content = Option<RetryBody>, description = "Optional"),
    responses(
        (status = 200, description = "How many deliveries were re-queued", body = Envelope<Requeued>),
        (status = 404, description = "No payment by `intentId` (`NOT_FOUND`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn retry_webhooks(
    State(state): State<AppState>,
    Admin(admin): Admin,
    body: Bytes,
) -> Result<Json<Envelope<Requeued>>, ApiError> {
    // The body is optional: none (or `{}`) re-queues every delivery.
    let body: RetryBody = crate::routes::optional_body(&body)?;
    let payment_id = body
        .intent_id
        .as_deref()
        .map(|id| id.parse::<PaymentId>().map_err(|_| ApiError::validation("intentId is not a payment id (pay_…)")))
        .transpose()?;
    if let Some(id) = &payment_id {
        state.store.payment(id).await?.ok_or_else(|| ApiError::not_found("payment not found"))?;
    }
    let requeued = state.store.requeue_deliveries(payment_id.as_ref(), clock::now_ms()).await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, requeued, intent_id = ?payment_id, "webhook deliveries re-queued");
    Ok(Envelope::of(Requeued { requeued }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(in crate::routes) struct UnwindBody {
    /// How far back, in blocks below the cursor, the one authorized unwind may search for the
    /// fork point.
    #[serde(deserialize_with = "crate::extract::whole")]
    #[schema(minimum = 1, maximum = 10_000)]
    max_depth: u64,
}

/// Authorize an unwind of a halted chain.
///
/// A chain whose follower met a reorg deeper than `PAYSCAN_MAX_REORG_DEPTH` is halted: it reads
/// nothing and credits nothing until an operator, having looked at the reorg, authorizes one
/// unwind searching up to `maxDepth` blocks back (at most the 10,000 whose hashes are kept). The
/// follower then reverts everything above the fork point, announces what lost money
/// (`payment.reverted`) and scans the new branch; a reorg deeper still leaves it halted.
#[utoipa::path(
    post,
    path = "/api/admin/scanner/chains/{chainId}/unwind",
    operation_id = "authorizeUnwind",
    tag = "admin",
    params(("chainId" = i64, Path, minimum = 1, description = "A chain id of the registry")),
    request_body = UnwindBody,
    responses(
        (status = 200, description = "The unwind is authorized; the chain's follower takes it up within a poll", body = Envelope<UnwindAuthorized>),
        (status = 409, description = "The chain is not halted (`CHAIN_NOT_HALTED`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn unwind(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(chain_id): ApiPath<ChainId>,
    ApiJson(body): ApiJson<UnwindBody>,
) -> Result<Json<Envelope<UnwindAuthorized>>, ApiError> {
    chain_or_404(&state.registry.current(), chain_id)?;
    if !(1..=KEEP_HASHES).contains(&body.max_depth) {
        return Err(ApiError::validation(format!("maxDepth must be within 1..={KEEP_HASHES}")));
    }
    if !state.store.authorize_unwind(chain_id, body.max_depth).await? {
        return Err(ApiError::new(ErrorCode::ChainNotHalted, format!("chain {chain_id} is not halted by a reorg")));
    }
    tracing::warn!(target: "payscan::api", by = %admin.user_id, %chain_id, max_depth = body.max_depth, "unwind of a halted chain authorized");
    Ok(Envelope::of(UnwindAuthorized { chain_id, max_depth: body.max_depth }))
}
