//! `POST /api/payment/amn-scanner/webhook`: payscan's own Standard Webhooks receiver. It checks
//! the signature and timestamp, refuses a body that is not a payscan [`WebhookEvent`] or names no
//! known payment or payout, and records each `webhook-id` once for good (a retry is re-signed
//! with a fresh timestamp, so a time-window cache would let it through).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use payscan_core::clock;
use payscan_core::event::WebhookEvent;
use payscan_core::webhook::{SignedHeaders, WebhookError};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorCode};
use crate::schemas::{Envelope, ErrorBody, Received};
use crate::state::AppState;

/// The path of payscan's own webhook receiver, which the dispatcher's `self` target posts to.
pub const RECEIVER_PATH: &str = "/api/payment/amn-scanner/webhook";

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// Receive a signed webhook.
///
/// payscan's own Standard Webhooks receiver: checks the signature and a 5-minute timestamp
/// tolerance, and records each `webhook-id` once for good.
#[utoipa::path(
    post,
    path = RECEIVER_PATH,
    operation_id = "receiveWebhook",
    tag = "webhooks",
    params(
        ("webhook-id" = String, Header, description = "The event's id, the same on every retry"),
        ("webhook-timestamp" = String, Header, description = "Unix seconds"),
        ("webhook-signature" = String, Header, description = "`v1,<base64 HMAC-SHA256 of \"id.timestamp.body\">`"),
    ),
    request_body(content = WebhookEvent, description = "A payment event (naming `intentId`) or a payout event (naming `payoutId`)"),
    responses(
        (status = 200, description = "`processed`, or `duplicate` for a `webhook-id` seen before", body = Envelope<Received>),
        (status = 400, description = "Not JSON (`MALFORMED_JSON`), or not a payscan event (`VALIDATION_ERROR`)", body = ErrorBody),
        (status = 401, description = "Missing or bad signature, or a timestamp outside the tolerance", body = ErrorBody),
        (status = 404, description = "No such payment or payout", body = ErrorBody),
    )
)]
pub(super) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Envelope<Received>>, ApiError> {
    let signed = SignedHeaders::from_headers(&headers).map_err(|e| ApiError::unauthorized(e.to_string()))?;
    state.webhook_secret.verify(&signed, &body, clock::now_ms() / 1000).map_err(|e| match e {
        WebhookError::Stale => ApiError::unauthorized("webhook timestamp outside the 5 minute tolerance"),
        _ => ApiError::unauthorized("invalid webhook signature"),
    })?;

    let payload: Value =
        serde_json::from_slice(&body).map_err(|_| ApiError::new(ErrorCode::MalformedJson, "body is not JSON"))?;
    let event: WebhookEvent =
        serde_json::from_value(payload).map_err(|e| ApiError::validation(format!("not a payscan event: {e}")))?;
    let subject = match &event {
        WebhookEvent::Payment(payment) => {
            state.store.payment(&payment.intent_id).await?.ok_or_else(|| ApiError::not_found("payment not found"))?;
            payment.intent_id.to_string()
        }
        WebhookEvent::Payout(payout) => {
            state.store.payout(&payout.payout_id).await?.ok_or_else(|| ApiError::not_found("payout not found"))?;
            payout.payout_id.to_string()
        }
    };
    let event_type = event.event_type();

    let first = state.store.record_receipt(signed.id, &subject, event_type, &event.status(), clock::now_ms()).await?;
    let outcome = if first { "processed" } else { "duplicate" };
    tracing::info!(target: "payscan::api", webhook_id = signed.id, subject = %subject, event_type, outcome, "webhook received");
    Ok(Envelope::of(Received { webhook_id: signed.id.to_owned(), status: outcome }))
}
