//! The scanner as operators see it, and a lever over its webhooks.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use payscan_core::{clock, PaymentId};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::schemas::{Envelope, Requeued, ScannerStatus};
use crate::state::AppState;

/// The scanner's status.
///
/// Per chain: state, head, cursor, lag in blocks and seconds, last error, the RPC in use; the
/// watched destinations and the outbox depth.
#[utoipa::path(
    get,
    path = "/api/admin/scanner/status",
    tag = "admin",
    responses((status = 200, description = "The scanner", body = Envelope<ScannerStatus>)),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn status(State(state): State<AppState>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    let chains: Vec<Value> = state
        .status
        .all()
        .into_iter()
        .map(|s| {
            let (lag_blocks, lag_seconds, down) = (s.lag_blocks(), s.lag_seconds(), s.is_down());
            let mut view = serde_json::to_value(&s).unwrap_or_default();
            if let Some(map) = view.as_object_mut() {
                map.insert("lagBlocks".into(), json!(lag_blocks));
                map.insert("lagSeconds".into(), json!(lag_seconds));
                map.insert("down".into(), json!(down));
            }
            view
        })
        .collect();
    Ok(Json(json!({
        "success": true,
        "data": {
            "chains": chains,
            "watchedDestinations": state.watch.len(),
            "outboxDepth": state.store.outbox_depth().await?,
        },
    })))
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(in crate::routes) struct RetryBody {
    /// A payment id (`pay_…`); every delivery when absent.
    intent_id: Option<String>,
}

/// Retry webhook deliveries.
///
/// Deliveries in manual review get a fresh retry schedule and waiting ones are due now; of one
/// payment (`intentId`) or of all.
#[utoipa::path(
    post,
    path = "/api/admin/scanner/webhooks/retry",
    tag = "admin",
    request_body(content = Option<RetryBody>, description = "Optional"),
    responses((status = 200, description = "How many deliveries were re-queued", body = Envelope<Requeued>)),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn retry_webhooks(
    State(state): State<AppState>,
    Admin(admin): Admin,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // The body is optional: none (or `{}`) re-queues every delivery.
    let body: RetryBody = if body.iter().all(u8::is_ascii_whitespace) {
        RetryBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::validation(e.to_string()))?
    };
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
    Ok(Json(json!({ "success": true, "data": { "requeued": requeued } })))
}
