//! Escrow (admin): release a funded payment to its seller or refund it to its buyer, at most once,
//! and confirm a hash an external signer broadcast.

use alloy::primitives::{Address, B256};
use axum::extract::State;
use axum::Json;
use payscan_core::registry::parse_address;
use payscan_core::store::rails::RailScope;
use payscan_core::store::Payment;
use payscan_core::{PaymentId, PayoutKind};
use payscan_custody::EscrowOutcome;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath};
use crate::schemas::{self, Envelope, ErrorBody, Settlement};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(release))
        .routes(routes!(release_confirm))
        .routes(routes!(refund))
        .routes(routes!(refund_confirm))
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SettleBody {
    /// Where the money goes; by default the payout address an admin set on the seller's store
    /// for a release, the address that paid for a refund. The payment's metadata never decides.
    #[schema(value_type = Option<schemas::Address>)]
    to: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ConfirmBody {
    /// The broadcast transaction.
    #[schema(value_type = schemas::TxHash, required = true)]
    tx_hash: Option<String>,
}

/// Where a settlement pays: the admin's `to`; else, for a release, the payout address an admin set
/// on the seller's store, and for a refund the address that paid. Never the payment's metadata,
/// which the buyer writes.
async fn recipient(
    state: &AppState,
    payment: &Payment,
    kind: PayoutKind,
    to: Option<&str>,
) -> Result<Address, ApiError> {
    if let Some(to) = to {
        let to = parse_address(to).map_err(|e| ApiError::validation(format!("to: {e}")))?;
        if to.is_zero() {
            return Err(ApiError::validation("to must not be the zero address"));
        }
        return Ok(to);
    }
    match kind {
        PayoutKind::Release => state
            .store
            .rail_config(RailScope::Store, &payment.seller_id)
            .await?
            .and_then(|store| store.payout_address)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::PayoutAddressMissing,
                    format!(
                        "seller {} has no payout address: pass `to`, or set payoutAddress on \
                         /api/admin/payment-config/stores/{}",
                        payment.seller_id, payment.seller_id
                    ),
                )
            }),
        _ => {
            let credits = state.store.credits_of(&payment.id).await?;
            credits.iter().filter(|c| c.counted).map(|c| c.from).find(|from| !from.is_zero()).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::RefundAddressUnknown,
                    "no counted transfer names the address that paid: pass `to`",
                )
            })
        }
    }
}

async fn settle(
    state: AppState,
    admin: &str,
    id: &PaymentId,
    kind: PayoutKind,
    body: &[u8],
) -> Result<Json<Envelope<Settlement>>, ApiError> {
    let body: SettleBody = super::optional_body(body)?;
    let payment = super::existing_payment(&state, id).await?;
    let to = recipient(&state, &payment, kind, body.to.as_deref()).await?;
    let outcome = state.payouts.settle_escrow(&payment, kind, to, admin).await?;
    let (payout, payload) = match outcome {
        EscrowOutcome::Sent(payout) => (payout, None),
        EscrowOutcome::Built(payout, payload) => (payout, Some(payload)),
    };
    let payment = super::existing_payment(&state, &payment.id).await?;
    tracing::info!(target: "payscan::api", by = %admin, payment_id = %payment.id, kind = kind.as_str(), "escrow settlement");
    Ok(Envelope::of(Settlement::new(&payment, &payout, payload)))
}

async fn confirm(
    state: AppState,
    admin: &str,
    id: &PaymentId,
    kind: PayoutKind,
    body: ConfirmBody,
) -> Result<Json<Envelope<Settlement>>, ApiError> {
    let tx_hash = body.tx_hash.ok_or_else(|| ApiError::validation("txHash is required"))?;
    let tx_hash: B256 =
        tx_hash.parse().map_err(|_| ApiError::validation("txHash must be a 0x-prefixed 32-byte hex hash"))?;
    let payment = super::existing_payment(&state, id).await?;
    let payout = state.payouts.confirm_escrow(&payment.id, kind, tx_hash).await?;
    let payment = super::existing_payment(&state, &payment.id).await?;
    tracing::info!(target: "payscan::api", by = %admin, payment_id = %payment.id, tx = %tx_hash, kind = kind.as_str(), "escrow confirmed");
    Ok(Envelope::of(Settlement::new(&payment, &payout, None)))
}

/// Release a payment's escrow.
///
/// Pays a completed payment's escrow (the amount received) to the seller (`to`, else the
/// `payoutAddress` of the seller's store configuration) from the payout wallet, at most once.
/// With the build-only signer the answer carries the unsigned transfer.
#[utoipa::path(
    post,
    path = "/api/payment/{id}/release",
    operation_id = "releaseEscrow",
    tag = "escrow",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    request_body(content = Option<SettleBody>, description = "Optional"),
    responses(
        (status = 200, description = "The settlement", body = Envelope<Settlement>),
        (status = 409, description = "Released or refunded already (`DUPLICATE_PAYOUT`), or the escrow is not funded (`INVALID_STATE`)", body = ErrorBody),
        (status = 422, description = "No `to` and no payout address set for the seller (`PAYOUT_ADDRESS_MISSING`)", body = ErrorBody),
        (status = 503, description = "The payout wallet lacks gas (`RELAYER_UNAVAILABLE`) or the chain's RPC is failing (`CHAIN_UNAVAILABLE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn release(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<PaymentId>,
    body: axum::body::Bytes,
) -> Result<Json<Envelope<Settlement>>, ApiError> {
    settle(state, &admin.user_id, &id, PayoutKind::Release, &body).await
}

/// Refund a payment's escrow.
///
/// Returns a completed payment's escrow to the buyer (`to`, else the address that paid) from the
/// payout wallet, at most once.
#[utoipa::path(
    post,
    path = "/api/payment/{id}/refund",
    operation_id = "refundEscrow",
    tag = "escrow",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    request_body(content = Option<SettleBody>, description = "Optional"),
    responses(
        (status = 200, description = "The settlement", body = Envelope<Settlement>),
        (status = 409, description = "Released or refunded already (`DUPLICATE_PAYOUT`), or the escrow is not funded (`INVALID_STATE`)", body = ErrorBody),
        (status = 422, description = "No `to` and no counted transfer names the payer (`REFUND_ADDRESS_UNKNOWN`)", body = ErrorBody),
        (status = 503, description = "The payout wallet lacks gas (`RELAYER_UNAVAILABLE`) or the chain's RPC is failing (`CHAIN_UNAVAILABLE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn refund(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<PaymentId>,
    body: axum::body::Bytes,
) -> Result<Json<Envelope<Settlement>>, ApiError> {
    settle(state, &admin.user_id, &id, PayoutKind::Refund, &body).await
}

/// Confirm an external release.
///
/// Records a release sent outside payscan, after checking on chain that it succeeded and moved
/// the amount of the payment's token to the recipient.
#[utoipa::path(
    post,
    path = "/api/payment/{id}/release/confirm",
    operation_id = "confirmEscrowRelease",
    tag = "escrow",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    request_body = ConfirmBody,
    responses(
        (status = 200, description = "The settlement", body = Envelope<Settlement>),
        (status = 409, description = "Nothing built to confirm, or settled already (`INVALID_STATE`, `DUPLICATE_PAYOUT`)", body = ErrorBody),
        (status = 422, description = "The transaction does not pay the recipient (`TX_CHECK_FAILED`)", body = ErrorBody),
        (status = 503, description = "The chain's RPC is failing (`CHAIN_UNAVAILABLE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn release_confirm(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<PaymentId>,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Json<Envelope<Settlement>>, ApiError> {
    confirm(state, &admin.user_id, &id, PayoutKind::Release, body).await
}

/// Confirm an external refund.
///
/// Records a refund sent outside payscan, after checking it on chain.
#[utoipa::path(
    post,
    path = "/api/payment/{id}/refund/confirm",
    operation_id = "confirmEscrowRefund",
    tag = "escrow",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    request_body = ConfirmBody,
    responses(
        (status = 200, description = "The settlement", body = Envelope<Settlement>),
        (status = 409, description = "Nothing built to confirm, or settled already (`INVALID_STATE`, `DUPLICATE_PAYOUT`)", body = ErrorBody),
        (status = 422, description = "The transaction does not pay the recipient (`TX_CHECK_FAILED`)", body = ErrorBody),
        (status = 503, description = "The chain's RPC is failing (`CHAIN_UNAVAILABLE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn refund_confirm(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<PaymentId>,
    ApiJson(body): ApiJson<ConfirmBody>,
) -> Result<Json<Envelope<Settlement>>, ApiError> {
    confirm(state, &admin.user_id, &id, PayoutKind::Refund, body).await
}
