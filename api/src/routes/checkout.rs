//! The in-house checkout (no hosted page): the transactions a wallet sends as they are to pay a
//! payment, the permit it may sign instead of the approval, and the relayer that broadcasts that
//! permit.

use alloy::primitives::{Address, Bytes, Signature, U256};
use alloy::sol_types::SolCall;
use axum::extract::State;
use axum::Json;
use payscan_chain::abi::{IERC20FeeProxy, IERC20};
use payscan_core::registry::parse_address;
use payscan_core::{PaymentId, Provider};
use payscan_custody::{PermitTerms, SignedPermit};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::schemas::{self, ErrorBody, PermitAvailability, RelayedPermit};
use crate::state::AppState;
use crate::views::checkout::{Checkout, PermitOffer, RequestNetworkRail, WalletTransaction};
use crate::views::Envelope;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(checkout)).routes(routes!(availability)).routes(routes!(permit))
}

/// Why a permit spares only the approval.
const PERMIT_NOTE: &str = "Signing this permit replaces the approve transaction: payscan's relayer broadcasts it \
     (POST …/permit). The fee proxy pulls from msg.sender, so the buyer still sends \
     transferFromWithReferenceAndFee.";

fn transaction(description: &'static str, to: Address, data: Vec<u8>) -> WalletTransaction {
    WalletTransaction { description, to: to.to_checksum(None), data: Bytes::from(data).to_string(), value: "0" }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct CheckoutQuery {
    /// The wallet that will pay: the permit is offered for it, with its current nonce. EIP-55
    /// checksummed when it mixes cases.
    #[param(pattern = "^0x[0-9a-fA-F]{40}$")]
    payer: Option<String>,
}

/// Checkout: what a wallet sends.
///
/// What a wallet sends, as is, to pay the payment: an ERC-20 `transfer` to a derived address, or
/// `approve` then `transferFromWithReferenceAndFee` on the Request Network rail; with `payer`
/// and a permit token, the EIP-2612 permit typed data that replaces the approval (the buyer
/// still sends the payment: the fee proxy pulls from `msg.sender`).
#[utoipa::path(
    get,
    path = "/api/payment/request-network/{id}/checkout",
    operation_id = "getCheckout",
    tag = "checkout",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)"), CheckoutQuery),
    responses(
        (status = 200, description = "The checkout", body = Envelope<Checkout>),
        (status = 409, description = "The payment's chain or rail can no longer be paid (`CHAIN_UNSUPPORTED`)", body = ErrorBody),
        (status = 503, description = "The chain's RPC did not answer the nonce read, or the database is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PaymentId>,
    ApiQuery(query): ApiQuery<CheckoutQuery>,
) -> Result<Json<Envelope<Checkout>>, ApiError> {
    let payer = query
        .payer
        .as_deref()
        .map(parse_address)
        .transpose()
        .map_err(|e| ApiError::validation(format!("payer: {e}")))?;
    let payment = super::readable_payment(&state, &caller, &id).await?;
    let registry = state.registry.current();
    let chain = registry
        .chain(payment.rail.chain_id)
        .ok_or_else(|| ApiError::new(ErrorCode::ChainUnsupported, "the payment's chain is no longer supported"))?;
    let token = payment.rail.token.address;
    let remaining = payment.rail.amount.saturating_sub(payment.received);
    let payable = payment.status.is_open() && !remaining.is_zero();

    let mut transactions = Vec::new();
    let mut permit = None;
    let mut rail = RequestNetworkRail::default();
    match (payment.rail.provider, &payment.rn, chain.proxy_address) {
        (Provider::RequestNetwork, Some(rn), Some(proxy)) => {
            rail = RequestNetworkRail {
                fee_proxy: Some(proxy.to_checksum(None)),
                payee: Some(rn.payee.to_checksum(None)),
                payment_reference: Some(rn.reference.to_string()),
                salt: Some(rn.salt.clone()),
            };
            if payable {
                let approve = IERC20::approveCall { spender: proxy, amount: remaining.0 };
                let pay = IERC20FeeProxy::transferFromWithReferenceAndFeeCall {
                    _tokenAddress: token,
                    _to: rn.payee,
                    _amount: remaining.0,
                    _paymentReference: Bytes::copy_from_slice(rn.reference.as_bytes()),
                    _feeAmount: U256::ZERO,
                    _feeAddress: Address::ZERO,
                };
                transactions.push(transaction("approve the fee proxy for the amount", token, approve.abi_encode()));
                transactions.push(transaction("pay through the fee proxy with the reference", proxy, pay.abi_encode()));
                if let Some(payer) = payer {
                    if let Some(typed) = state.permits.offer(&payment, payer).await? {
                        permit = Some(PermitOffer { typed_data: typed, replaces: 0, note: PERMIT_NOTE });
                    }
                }
            }
        }
        (Provider::RequestNetwork, ..) => {
            return Err(ApiError::new(
                ErrorCode::ChainUnsupported,
                "this Request Network payment has no fee proxy or reference to pay with",
            ))
        }
        (Provider::AmnScanner, ..) => {
            if payable {
                let pay = IERC20::transferCall { to: payment.destination, amount: remaining.0 };
                transactions.push(transaction("transfer the amount to the payment's address", token, pay.abi_encode()));
            }
        }
    }
    Ok(Envelope::of(Checkout {
        payment_id: payment.id.clone(),
        provider: payment.rail.provider,
        status: payment.status,
        chain_id: payment.rail.chain_id,
        network: chain.short_name.clone(),
        token: payment.rail.token.clone(),
        amount_base_units: payment.rail.amount,
        remaining_base_units: remaining,
        destination: payment.destination.to_checksum(None),
        expires_at: payscan_core::clock::rfc3339(payment.expires_at),
        request_network: rail,
        transactions,
        permit,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PermitBody {
    /// The buyer's address, which signed.
    #[schema(value_type = schemas::Address)]
    owner: String,
    /// The chain's fee proxy.
    #[schema(value_type = schemas::Address)]
    spender: String,
    /// Base units, as a decimal string or number.
    #[schema(value_type = schemas::UintInput)]
    value: Value,
    /// Unix seconds, as a decimal string or number.
    #[schema(value_type = schemas::UintInput)]
    deadline: Value,
    /// 27 or 28 (0 or 1 accepted).
    #[serde(deserialize_with = "crate::extract::whole")]
    #[schema(minimum = 0, maximum = 28)]
    v: u8,
    /// 0x-prefixed 32-byte hex.
    #[schema(pattern = "^0x[0-9a-fA-F]{64}$")]
    r: String,
    /// 0x-prefixed 32-byte hex.
    #[schema(pattern = "^0x[0-9a-fA-F]{64}$")]
    s: String,
}

fn uint(field: &str, value: &Value) -> Result<U256, ApiError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::extract::whole_number(n).map(|n| n.to_string()).ok_or_else(|| {
            ApiError::validation(format!("{field} must be a non-negative integer (a decimal string)"))
        })?,
        _ => return Err(ApiError::validation(format!("{field} must be a non-negative integer (a decimal string)"))),
    };
    text.parse::<U256>().map_err(|_| ApiError::validation(format!("{field} `{text}` is not a non-negative integer")))
}

/// Relay an EIP-2612 permit.
///
/// Relays the buyer's EIP-2612 permit for the payment. Every check runs before any gas is spent:
/// the payment is pending, on the Request Network rail and the caller's; the spender is the
/// chain's fee proxy; the value covers the amount; the deadline is at least 60 s ahead; the token
/// has permit; the signature recovers to `owner` under the token's domain and current nonce.
#[utoipa::path(
    post,
    path = "/api/payment/request-network/{id}/permit",
    operation_id = "relayPermit",
    tag = "checkout",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    request_body = PermitBody,
    responses(
        (status = 200, description = "Broadcast (`mined` or `pending`), or `already_approved`", body = Envelope<RelayedPermit>),
        (status = 400, description = "A check failed (`PERMIT_INVALID`) or bad input", body = ErrorBody),
        (status = 409, description = "The payment is not pending or not on the Request Network rail (`INVALID_STATE`), or another permit of this payment is in flight or mined (`PERMIT_ALREADY_RELAYED`)", body = ErrorBody),
        (status = 422, description = "The permit reverted on chain (`PERMIT_FAILED`)", body = ErrorBody),
        (status = 429, description = "The caller asked for more relays than `PAYSCAN_RATE_LIMIT_PERMITS` allows (`RATE_LIMITED`; `Retry-After` says when to try again)", body = ErrorBody),
        (status = 503, description = "No relayer, or not enough gas (`RELAYER_UNAVAILABLE`); the RPC is failing (`CHAIN_UNAVAILABLE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn permit(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PaymentId>,
    ApiJson(body): ApiJson<PermitBody>,
) -> Result<Json<Envelope<RelayedPermit>>, ApiError> {
    state.limits.permit(&caller)?;
    let owner = parse_address(&body.owner).map_err(|e| ApiError::validation(format!("owner: {e}")))?;
    let spender = parse_address(&body.spender).map_err(|e| ApiError::validation(format!("spender: {e}")))?;
    let word = |field: &str, text: &str| -> Result<U256, ApiError> {
        let hex = text.strip_prefix("0x").filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        hex.and_then(|h| U256::from_str_radix(h, 16).ok())
            .ok_or_else(|| ApiError::validation(format!("{field} must be a 0x-prefixed 32-byte hex word")))
    };
    let (r, s) = (word("r", &body.r)?, word("s", &body.s)?);
    let parity = match body.v {
        27 | 0 => false,
        28 | 1 => true,
        other => return Err(ApiError::validation(format!("v must be 27 or 28, got {other}"))),
    };
    let signed = SignedPermit {
        terms: PermitTerms {
            owner,
            spender,
            value: uint("value", &body.value)?,
            nonce: U256::ZERO,
            deadline: uint("deadline", &body.deadline)?,
        },
        signature: Signature::new(r, s, parity),
    };
    let payment = super::readable_payment(&state, &caller, &id).await?;
    let relayed = state.permits.relay(&payment, &signed).await?;
    tracing::info!(target: "payscan::api", payment_id = %payment.id, status = relayed.status, "permit");
    Ok(Envelope::of(relayed))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct AvailabilityQuery {
    #[param(value_type = i64, minimum = 1)]
    chain_id: String,
    /// A token symbol of the chain.
    token: String,
}

/// Permit relay availability.
///
/// Whether payscan's relayer can sponsor a permit on a chain and token, from its real balance
/// and today's gas price.
#[utoipa::path(
    get,
    path = "/api/payment/request-network/permit-availability",
    operation_id = "getPermitAvailability",
    tag = "checkout",
    params(AvailabilityQuery),
    responses(
        (status = 200, description = "Available or not, and why", body = Envelope<PermitAvailability>),
        (status = 503, description = "The chain's RPC is failing (`CHAIN_UNAVAILABLE`), or the database is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn availability(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<AvailabilityQuery>,
) -> Result<Json<Envelope<PermitAvailability>>, ApiError> {
    let chain_id = super::admin::parse_chain_id(&query.chain_id)?;
    let availability = state.permits.availability(chain_id, &query.token).await?;
    Ok(Envelope::of(availability))
}
