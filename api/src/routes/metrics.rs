//! `GET /metrics`: Prometheus text format.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus::{Encoder, TextEncoder};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics.
///
/// Prometheus metrics: per chain head, cursor, lag, log range and errors; credits; deliveries
/// and outbox depth.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String))
)]
pub(super) async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    encoder.encode(&state.metrics.gather(), &mut body).map_err(ApiError::internal)?;
    Ok(([(CONTENT_TYPE, encoder.format_type().to_owned())], body))
}
