//! The router.

mod admin;
mod checkout;
mod configuration;
mod destinations;
mod docs;
mod escrow;
mod events;
mod export;
mod health;
mod intents;
mod ledger;
mod metrics;
mod options;
mod payments;
mod payouts;
mod receiver;
mod reports;

pub use docs::openapi_document;
pub use receiver::RECEIVER_PATH;

use axum::body::{Body, HttpBody};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::CONNECTION;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use payscan_core::money::AmountError;
use payscan_core::registry::Token;
use payscan_core::store::Payment;
use payscan_core::{BaseUnits, PaymentId};
use serde_json::value::RawValue;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Request bodies larger than this are refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// How much of a refused body is read and dropped so the client gets its 413.
const DRAIN_LIMIT: usize = 8 * 1024 * 1024;
/// How long a refused body may take to drain.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Each resource's routes, each route with its operation, in the document's order.
fn resources() -> [OpenApiRouter<AppState>; 17] {
    [
        health::router(),
        configuration::router(),
        payments::router(),
        reports::router(),
        export::router(),
        events::router(),
        intents::router(),
        options::router(),
        checkout::router(),
        receiver::router(),
        escrow::router(),
        payouts::router(),
        ledger::router(),
        destinations::router(),
        admin::router(),
        metrics::router(),
        docs::router(),
    ]
}

/// Every route payscan serves with the document that describes them: both come from the same
/// declarations, so no route goes undocumented and no documented path goes unserved.
fn documented() -> OpenApiRouter<AppState> {
    resources().into_iter().fold(OpenApiRouter::with_openapi(docs::ApiDoc::openapi()), OpenApiRouter::merge)
}

/// Every route payscan serves.
pub fn router(state: AppState) -> Router {
    let (routes, _) = documented().split_for_parts();
    routes
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(read_body_first))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("handler panicked").into_response()))
        .with_state(state)
}

/// What a scanner-only instance serves: health and metrics.
pub fn ops_router(state: AppState) -> Router {
    let (routes, _) = health::router()
        .merge(metrics::router())
        // The dispatcher here delivers payscan's own webhooks to this instance's receiver.
        .merge(receiver::router())
        .split_for_parts();
    routes
        .fallback(|| async { ApiError::not_found("this instance runs the scanner only (PAYSCAN_ROLE=scanner)") })
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Reads the whole request body (up to [`BODY_LIMIT`]) before any extractor runs. A request
/// refused early (say, a 401 before its JSON is parsed) would otherwise leave body bytes unread,
/// and the server would close a keep-alive connection that the client is about to reuse. A body
/// over the limit is read on and dropped (up to [`DRAIN_LIMIT`], for a few seconds) so that the
/// client gets its 413 instead of a reset connection.
async fn read_body_first(request: Request, next: Next) -> Response {
    let (parts, mut body) = request.into_parts();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let drained = tokio::time::timeout(DRAIN_TIME, async {
        while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(data) = frame.map(|f| f.into_data()) else { return false };
            let Ok(data) = data else { continue };
            seen += data.len();
            if seen > DRAIN_LIMIT {
                return false;
            }
            if seen <= BODY_LIMIT {
                kept.extend_from_slice(&data);
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    if drained && seen <= BODY_LIMIT {
        return next.run(Request::from_parts(parts, Body::from(kept))).await;
    }
    let mut response = ApiError::new(ErrorCode::PayloadTooLarge, "request body is too large").into_response();
    if !drained {
        // The rest of the body was never read, so the connection cannot carry another request.
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Ids from clients: short, printable, no whitespace or markup.
/// A payment the caller may read: any for an admin, their own for a buyer.
pub(crate) async fn readable_payment(state: &AppState, caller: &Caller, id: &PaymentId) -> Result<Payment, ApiError> {
    let payment = existing_payment(state, id).await?;
    if !caller.may_read(&payment.buyer_id) {
        return Err(ApiError::forbidden("not your payment"));
    }
    Ok(payment)
}

/// A payment, or 404.
pub(crate) async fn existing_payment(state: &AppState, id: &PaymentId) -> Result<Payment, ApiError> {
    state.store.payment(id).await?.ok_or_else(|| ApiError::not_found("payment not found"))
}

pub(crate) fn check_id(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!("{field} must be 1-128 characters of A-Z a-z 0-9 _ - . :")))
    }
}

/// An amount in token units, from a JSON number's or string's own text (never through a float).
pub(crate) fn token_amount(raw: &RawValue, token: &Token) -> Result<BaseUnits, ApiError> {
    decimal_amount(raw, token.decimals, &token.symbol)
}

/// A decimal amount scaled by `decimals`, read exactly from the JSON text.
pub(crate) fn decimal_amount(raw: &RawValue, decimals: u8, unit: &str) -> Result<BaseUnits, ApiError> {
    let text = match serde_json::from_str::<serde_json::Value>(raw.get()) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Number(_)) => raw.get().to_owned(),
        _ => return Err(ApiError::validation("amount must be a number or a decimal string")),
    };
    BaseUnits::parse_amount(&text, decimals).map_err(|e| match e {
        AmountError::TooPrecise { decimals } => {
            ApiError::validation(format!("amount has more than {decimals} decimals, the most {unit} allows"))
        }
        other => ApiError::validation(other.to_string()),
    })
}

/// A JSON body that may be left out entirely, or sent as `null` (then every field takes its
/// default); else an object, never an array read field by field.
pub(crate) fn optional_body<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    let text = body.trim_ascii();
    if text.is_empty() || text == b"null" {
        return Ok(T::default());
    }
    crate::extract::require_object(text)?;
    serde_json::from_slice(text).map_err(|e| ApiError::validation(e.to_string()))
}
