//! `POST /api/payment/amn-scanner/webhook`: payscan's own Standard Webhooks receiver. It checks
//! the signature and timestamp, refuses what is malformed or names no known payment, and records
//! each `webhook-id` once for good (a retry is re-signed with a fresh timestamp, so a time-window
//! cache would let it through).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use payscan_core::webhook::{SignedHeaders, WebhookError};
use payscan_core::{clock, PaymentId, PayoutId};
use serde_json::{json, Value};

use crate::error::{ApiError, ErrorCode};
use crate::schemas::{Envelope, ErrorBody, Received};
use crate::state::AppState;

/// Receive a signed webhook.
///
/// payscan's own Standard Webhooks receiver: checks the signature and a 5-minute timestamp
/// tolerance, and records each `webhook-id` once for good.
#[utoipa::path(
    post,
    path = "/api/payment/amn-scanner/webhook",
    tag = "webhooks",
    params(
        ("webhook-id" = String, Header, description = "The event's id, the same on every retry"),
        ("webhook-timestamp" = String, Header, description = "Unix seconds"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">`"),
    ),
    request_body(content = Object, description = "An event body naming `intentId` (payment events) or `payoutId`"),
    responses(
        (status = 200, description = "`processed`, or `duplicate` for a `webhook-id` seen before", body = Envelope<Received>),
        (status = 401, description = "Missing or bad signature, or a timestamp outside the tolerance", body = ErrorBody),
        (status = 404, description = "No such payment or payout", body = ErrorBody),
    )
)]
pub(super) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let signed = SignedHeaders::from_headers(&headers).map_err(|e| ApiError::unauthorized(e.to_string()))?;
    state.webhook_secret.verify(&signed, &body, clock::now_ms() / 1000).map_err(|e| match e {
        WebhookError::Stale => ApiError::unauthorized("webhook timestamp outside the 5 minute tolerance"),
        _ => ApiError::unauthorized("invalid webhook signature"),
    })?;

    let payload: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::new(ErrorCode::MalformedJson, "body is not JSON"))?;
    let event_type = payload.get("type").and_then(Value::as_str).unwrap_or("unknown");
    let status = payload.get("status").and_then(Value::as_str).unwrap_or("unknown");
    // Payout events name a payout; every other event names a payment (`intentId`).
    let subject = if event_type.starts_with("payout.") {
        let payout_id = payload
            .get("payoutId")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::validation("payoutId is missing"))?;
        let payout_id: PayoutId = payout_id.parse().map_err(|_| ApiError::not_found("payout not found"))?;
        state.store.payout(&payout_id).await?.ok_or_else(|| ApiError::not_found("payout not found"))?;
        payout_id.to_string()
    } else {
        let intent_id = payload
            .get("intentId")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::validation("intentId is missing"))?;
        let payment_id: PaymentId = intent_id.parse().map_err(|_| ApiError::not_found("payment not found"))?;
        state.store.payment(&payment_id).await?.ok_or_else(|| ApiError::not_found("payment not found"))?;
        payment_id.to_string()
    };

    let first = state.store.record_receipt(signed.id, &subject, event_type, status, clock::now_ms()).await?;
    let outcome = if first { "processed" } else { "duplicate" };
    tracing::info!(target: "payscan::api", webhook_id = signed.id, subject = %subject, event_type, outcome, "webhook received");
    Ok(Json(json!({ "success": true, "data": { "webhookId": signed.id, "status": outcome } })))
}
