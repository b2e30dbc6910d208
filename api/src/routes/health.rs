//! `GET /api/payment/health`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::{ApiError, ErrorCode};
use crate::schemas::{ErrorBody, Liveness};
use crate::state::AppState;

/// Health.
///
/// Liveness and database reachability, with every route this API serves.
#[utoipa::path(
    get,
    path = "/api/payment/health",
    tag = "operations",
    responses(
        (status = 200, description = "Running", body = Liveness),
        (status = 503, description = "The database is unreachable (`DATABASE_UNAVAILABLE`)", body = ErrorBody),
    )
)]
pub(super) async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|_| ApiError::new(ErrorCode::DatabaseUnavailable, "the database is unreachable"))?;
    Ok(Json(json!({
        "success": true,
        "message": "payscan is running",
        "version": env!("CARGO_PKG_VERSION"),
        "chains": state.registry.current().chains().iter().map(|c| c.chain_id).collect::<Vec<_>>(),
        "endpoints": super::docs::endpoints(),
    })))
}
