//! Payouts (admin): queue one, run the queue, read, retry and cancel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use payscan_core::registry::parse_address;
use payscan_core::store::payments::TokenRef;
use payscan_core::PayoutId;
use payscan_custody::NewPayout;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Caller};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath};
use crate::schemas::{self, Envelope, ErrorBody, Payout, RunReport};
use crate::state::AppState;
use crate::views::payout::PayoutView;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(run))
        .routes(routes!(get))
        .routes(routes!(retry))
        .routes(routes!(cancel))
}

/// Where a payout goes.
// Not `Destination`: the document has that name for a derived destination.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PayoutDestinationBody {
    /// `address`: payscan pays out on chain.
    #[serde(rename = "type")]
    #[schema(pattern = "^address$")]
    kind: String,
    #[schema(value_type = schemas::Address)]
    account: String,
}

/// Seeds 000 and 003's payout body, on chain.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PayoutBody {
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    user_id: String,
    /// Token units as a JSON number or decimal string; read from its text, never as a float.
    #[schema(value_type = schemas::AmountInput)]
    amount: Box<RawValue>,
    /// A symbol or address.
    token: String,
    /// A chain id (number or string) or short name.
    #[schema(value_type = schemas::ChainInput)]
    chain_id: Value,
    destination: PayoutDestinationBody,
    contract_id: Option<String>,
    reason: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    reference: String,
}

/// Queue a payout.
///
/// Queues a payout from the payout wallet. `amount` is in token units; a used `reference`, or the
/// same `contractId` and `reason`, is refused.
#[utoipa::path(
    post,
    path = "/payouts",
    operation_id = "createPayout",
    tag = "payouts",
    request_body = PayoutBody,
    responses(
        (status = 201, description = "Queued", body = Envelope<Payout>),
        (status = 400, description = "Bad input, or below the token's minimum (`AMOUNT_BELOW_MINIMUM`)", body = ErrorBody),
        (status = 409, description = "A payout with this reference, or contractId and reason, exists (`DUPLICATE_PAYOUT`)", body = ErrorBody),
        (status = 503, description = "The payout wallet has no gas for one transfer (`RELAYER_UNAVAILABLE`), or the chain's RPC is failing", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<PayoutBody>,
) -> Result<(StatusCode, Json<Envelope<PayoutView>>), ApiError> {
    super::check_id("userId", &body.user_id)?;
    super::check_id("reference", &body.reference)?;
    for (field, value) in [("contractId", &body.contract_id), ("reason", &body.reason)] {
        if let Some(value) = value {
            super::check_id(field, value)?;
        }
    }
    if body.destination.kind != "address" {
        return Err(ApiError::validation(format!(
            "destination.type `{}` is not supported: payscan pays out on chain (type \"address\")",
            body.destination.kind
        )));
    }
    let recipient = parse_address(&body.destination.account)
        .map_err(|e| ApiError::validation(format!("destination.account: {e}")))?;
    if recipient.is_zero() {
        return Err(ApiError::validation("destination.account is the zero address"));
    }
    let registry = state.registry.current();
    let chain = match &body.chain_id {
        Value::String(name) => registry.resolve_network(name),
        Value::Number(n) => registry.resolve_network(&n.to_string()),
        _ => return Err(ApiError::validation("chainId must be a chain id or short name")),
    }
    .ok_or_else(|| ApiError::validation("chainId is not a supported network"))?;
    let token = chain.resolve_token(&body.token).ok_or_else(|| {
        ApiError::validation(format!("token {} is not supported on {}", body.token, chain.short_name))
    })?;
    let amount = super::token_amount(&body.amount, token)?;
    let new = NewPayout {
        user_id: body.user_id,
        reference: body.reference,
        contract_id: body.contract_id,
        reason: body.reason,
        chain_id: chain.chain_id,
        token: TokenRef { symbol: token.symbol.clone(), address: token.address, decimals: token.decimals },
        recipient,
        amount,
    };
    let payout = state.payouts.enqueue(new).await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, payout_id = %payout.id, "payout queued");
    Ok((StatusCode::CREATED, Envelope::of(PayoutView::from(&payout))))
}

/// Run the payout queue.
///
/// Processes the queue: every queued payout and every due retry is sent; answers once their
/// receipts are in (or after 15 s).
#[utoipa::path(
    post,
    path = "/admin/payouts/run",
    operation_id = "runPayouts",
    tag = "payouts",
    responses((status = 200, description = "What the run did", body = Envelope<RunReport>)),
    security(("bearer" = []))
)]
pub(super) async fn run(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<Envelope<RunReport>>, ApiError> {
    let report = state.payouts.run().await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, processed = report.processed,
        failed = report.failed, queued = report.queued, "payout run");
    Ok(Envelope::of(report))
}

/// A payout.
///
/// An admin, or the user the payout pays.
/// A payout, for an admin or the user it pays.
#[utoipa::path(
    get,
    path = "/payouts/{id}",
    operation_id = "getPayout",
    tag = "payouts",
    params(("id" = PayoutId, Path, description = "The payout id (`po_…`)")),
    responses((status = 200, description = "The payout", body = Envelope<Payout>)),
    security(("bearer" = []))
)]
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PayoutId>,
) -> Result<Json<Envelope<PayoutView>>, ApiError> {
    let payout = state.payouts.get(&id).await?;
    if !caller.may_read(&payout.user_id) {
        return Err(ApiError::forbidden("this payout is not yours"));
    }
    Ok(Envelope::of(PayoutView::from(&payout)))
}

/// Retry a payout.
///
/// Retries a `FAILED` or `MANUAL_REVIEW` payout now, with a fresh schedule.
#[utoipa::path(
    post,
    path = "/payouts/{id}/retry",
    operation_id = "retryPayout",
    tag = "payouts",
    params(("id" = PayoutId, Path, description = "The payout id (`po_…`)")),
    responses(
        (status = 200, description = "The payout, queued again", body = Envelope<Payout>),
        (status = 409, description = "Not failed or in manual review (`INVALID_STATE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn retry(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<PayoutId>,
) -> Result<Json<Envelope<PayoutView>>, ApiError> {
    let payout = state.payouts.retry(&id).await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, payout_id = %payout.id, status = %payout.status, "payout retried");
    Ok(Envelope::of(PayoutView::from(&payout)))
}

/// Cancel a payout.
///
/// Cancels a payout with no transaction in flight.
#[utoipa::path(
    post,
    path = "/payouts/{id}/cancel",
    operation_id = "cancelPayout",
    tag = "payouts",
    params(("id" = PayoutId, Path, description = "The payout id (`po_…`)")),
    responses(
        (status = 200, description = "The payout, cancelled", body = Envelope<Payout>),
        (status = 409, description = "A transaction is in flight, or it is settled (`INVALID_STATE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn cancel(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<PayoutId>,
) -> Result<Json<Envelope<PayoutView>>, ApiError> {
    let payout = state.payouts.cancel(&id).await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, payout_id = %payout.id, "payout cancelled");
    Ok(Envelope::of(PayoutView::from(&payout)))
}
