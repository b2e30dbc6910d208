//! `GET /api/payment/health`.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

pub(super) async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|_| ApiError::unavailable("DATABASE_UNAVAILABLE", "the database is unreachable"))?;
    Ok(Json(json!({
        "success": true,
        "message": "payscan is running",
        "version": env!("CARGO_PKG_VERSION"),
        "chains": state.registry.current().chains().iter().map(|c| c.chain_id).collect::<Vec<_>>(),
        "endpoints": [
            "GET /api/payment/health",
            "GET /api/payment",
            "GET /api/payment/:id",
            "GET /api/payment/request-network/options",
            "POST /api/payment/request-network/intents",
            "POST /api/payment/amn-scanner/webhook",
            "GET /api/payment/derived-destinations",
            "GET /api/payment/derived-destinations/config/health",
            "POST /api/payment/derived-destinations/:id/balance",
            "POST /api/payment/derived-destinations/:id/sweep",
            "POST /api/payment/derived-destinations/sweep",
            "POST /api/payment/derived-destinations/cron/start",
            "POST /api/payment/derived-destinations/cron/stop",
            "GET /api/payment/derived-destinations/cron/status",
            "GET /transactions",
            "GET /api/admin/settings/confirmation-thresholds",
            "PATCH /api/admin/settings/confirmation-thresholds/:chainId",
            "GET /api/admin/settings/confirmation-thresholds/history",
            "GET /api/admin/payments/awaiting-confirmation",
            "GET /api/admin/rn/networks",
            "POST /api/admin/rn/networks/reload",
            "POST /api/admin/rn/networks/probe/:chainId",
            "GET /api/admin/scanner/status",
            "POST /api/admin/scanner/webhooks/retry",
            "GET /metrics"
        ],
    })))
}
