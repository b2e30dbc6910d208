//! Payment reads and reports from the seed, with its known defects fixed: statistics count every
//! successful terminal status, and another user's data (lists, statistics, and the exports in
//! export.rs) is admin-only. Also the admin maintenance routes: expired-payment cleanup, transaction-hash repair, a debug
//! bundle, and the admin create and edit forms.

use std::collections::BTreeMap;

use alloy::primitives::U512;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use payscan_core::change::{ChangeError, PaymentChange};
use payscan_core::event::CreditedTransfer;
use payscan_core::store::{Changed, Payment, StoreError};
use payscan_core::{clock, ChainId, PaymentId, PaymentStatus};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::paging::checked_limit;
use crate::schemas::{self, Envelope, ErrorBody, IntentAnswer, Paged};
use crate::state::AppState;
use crate::views::payment::PaymentView;
use crate::views::payout::{DeliveryView, PayoutView};
use crate::views::reports::{
    AutoFetchAnswer, CleanupAnswer, FetchTxAnswer, FixedHash, PaymentDebug, Stats, StatusTotals, TokenTotals,
};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(edit))
        .routes(routes!(of_user))
        .routes(routes!(stats))
        .routes(routes!(stats_of))
        .routes(routes!(cleanup_pending))
        .routes(routes!(auto_fetch_missing))
        .routes(routes!(fetch_tx))
        .routes(routes!(debug))
}

/// The user whose data a caller asks for: themselves, or anyone for an admin.
pub(super) fn subject(caller: &Caller, user_id: Option<String>) -> Result<Option<String>, ApiError> {
    match user_id {
        Some(user) => {
            super::check_id("userId", &user)?;
            if !caller.may_read(&user) {
                return Err(ApiError::forbidden("another user's payments are for admins"));
            }
            Ok(Some(user))
        }
        // Without a user: an admin sees everyone, anyone else themselves.
        None if caller.is_admin() => Ok(None),
        None => Ok(Some(caller.user_id.clone())),
    }
}

/// A user's payments.
///
/// Like `GET /api/payment`, for one user: the caller, or anyone for an admin.
#[utoipa::path(
    get,
    path = "/api/payment/user/{userId}",
    operation_id = "listUserPayments",
    tag = "payments",
    params(("userId" = String, Path, pattern = "^[A-Za-z0-9_.:-]{1,128}$", description = "The user (self, or anyone for an admin)"), super::payments::ListQuery),
    responses((status = 200, description = "A page of the user's payments", body = Paged<schemas::Payment>)),
    security(("bearer" = []))
)]
pub(super) async fn of_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    query: ApiQuery<super::payments::ListQuery>,
) -> Result<Json<Paged<PaymentView>>, ApiError> {
    let user = subject(&caller, Some(user_id))?.unwrap_or_default();
    super::payments::list_for(&state, &user, query.0).await
}

/// One status's count, and its (amount, received) sums per (chain, token symbol). The sums are
/// 512-bit: received amounts come from the chain, unbounded, and no count of them can wrap.
type Totals = (u64, BTreeMap<(ChainId, String), (U512, U512)>);

/// Payment statistics.
///
/// Counts and base-unit sums per status (and per chain and token: amounts in different tokens
/// do not add up), of the caller's payments or everyone's for an admin. `successfulPayments`
/// counts every successful terminal status.
#[utoipa::path(
    get,
    path = "/api/payment/stats",
    operation_id = "getPaymentStats",
    tag = "payments",
    responses((status = 200, description = "Counts and sums", body = Envelope<Stats>)),
    security(("bearer" = []))
)]
pub(super) async fn stats(State(state): State<AppState>, caller: Caller) -> Result<Json<Envelope<Stats>>, ApiError> {
    stats_for(&state, subject(&caller, None)?).await
}

/// A user's payment statistics.
#[utoipa::path(
    get,
    path = "/api/payment/stats/{userId}",
    operation_id = "getUserPaymentStats",
    tag = "payments",
    params(("userId" = String, Path, pattern = "^[A-Za-z0-9_.:-]{1,128}$", description = "The user (self, or anyone for an admin)")),
    responses((status = 200, description = "Counts and sums of the user's payments", body = Envelope<Stats>)),
    security(("bearer" = []))
)]
pub(super) async fn stats_of(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
) -> Result<Json<Envelope<Stats>>, ApiError> {
    stats_for(&state, subject(&caller, Some(user_id))?).await
}

async fn stats_for(state: &AppState, user: Option<String>) -> Result<Json<Envelope<Stats>>, ApiError> {
    let rows = state.store.payment_amounts(user.as_deref()).await?;
    let mut by_status: BTreeMap<&'static str, Totals> = BTreeMap::new();
    let (mut successful, mut total) = (0u64, 0u64);
    for (status, chain_id, symbol, amount, received) in &rows {
        total += 1;
        if status.is_successful() {
            successful += 1;
        }
        let (count, sums) = by_status.entry(status.as_str()).or_default();
        *count += 1;
        let sum = sums.entry((*chain_id, symbol.clone())).or_insert((U512::ZERO, U512::ZERO));
        sum.0 = sum.0.saturating_add(U512::saturating_from(amount.0));
        sum.1 = sum.1.saturating_add(U512::saturating_from(received.0));
    }
    let count_of = |s: PaymentStatus| by_status.get(s.as_str()).map_or(0, |(c, _)| *c);
    let by_status_totals = by_status
        .iter()
        .map(|(status, (count, sums))| StatusTotals {
            status,
            count: *count,
            amounts: sums
                .iter()
                .map(|((chain_id, symbol), (amount, received))| TokenTotals {
                    chain_id: *chain_id,
                    token: symbol.clone(),
                    amount_base_units: amount.to_string(),
                    amount_received_base_units: received.to_string(),
                })
                .collect(),
        })
        .collect();
    Ok(Envelope::of(Stats {
        user_id: user,
        total_payments: total,
        successful_payments: successful,
        pending_payments: count_of(PaymentStatus::Pending) + count_of(PaymentStatus::Processing),
        failed_payments: count_of(PaymentStatus::Failed) + count_of(PaymentStatus::Cancelled),
        by_status: by_status_totals,
    }))
}

/// Cancel expired pending payments.
///
/// Pending payments that expired with
/// nothing received become `cancelled`, each with its `payment.cancelled` event, once their
/// chain's follower has scanned past the block at `expiresAt`. Their destinations stay watched
/// for the watch window: money that still arrives then is recorded and announced.
#[utoipa::path(
    post,
    path = "/api/payment/payments/cleanup-pending",
    operation_id = "cleanupPendingPayments",
    tag = "payments",
    responses((status = 200, description = "How many expired payments were cancelled", body = CleanupAnswer)),
    security(("bearer" = []))
)]
pub(super) async fn cleanup_pending(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<CleanupAnswer>, ApiError> {
    let cancelled = payscan_core::expiry::cancel_expired(&state.store, None, clock::now_ms()).await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, cancelled, "expired pending payments cancelled");
    Ok(Json(CleanupAnswer {
        success: true,
        cancelled_count: cancelled,
        deleted_count: cancelled,
        message: format!("{cancelled} expired pending payments cancelled"),
    }))
}

/// The newest counted transfer's hash, for a payment whose own is missing.
async fn repair_tx(state: &AppState, payment: &Payment) -> Result<Option<String>, ApiError> {
    if let Some(hash) = payment.tx_hash {
        return Ok(Some(format!("{hash:#x}")));
    }
    let credits = state.store.credits_of(&payment.id).await?;
    let Some(newest) = credits.iter().rev().find(|c| c.counted && !c.reverted) else { return Ok(None) };
    let change = PaymentChange::TxHashRecovered { tx_hash: newest.tx_hash };
    let recovered = state.store.change_payment(&payment.id, None, clock::now_ms(), |_| Some(change)).await?;
    if recovered.is_none() {
        return Ok(None);
    }
    Ok(Some(format!("{:#x}", newest.tx_hash)))
}

/// Recover a payment's transaction hash.
///
/// A settled payment's missing transaction hash, recovered from its credited transfers.
#[utoipa::path(
    post,
    path = "/api/payment/payments/{id}/fetch-tx",
    operation_id = "fetchPaymentTx",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    responses((status = 200, description = "The hash, if a transfer to the payment is known", body = FetchTxAnswer)),
    security(("bearer" = []))
)]
pub(super) async fn fetch_tx(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<PaymentId>,
) -> Result<Json<FetchTxAnswer>, ApiError> {
    let payment = super::existing_payment(&state, &id).await?;
    let had = payment.tx_hash.is_some();
    let hash = repair_tx(&state, &payment).await?;
    let network = state.registry.current().chain(payment.rail.chain_id).map(|c| c.short_name.clone());
    let message = match (&hash, had) {
        (Some(_), true) => "the payment already had its transaction hash",
        (Some(_), false) => "recovered from the payment's credited transfers",
        (None, _) => "no transfer to this payment has been seen on chain",
    };
    Ok(Json(FetchTxAnswer {
        success: hash.is_some(),
        transaction_hash: hash,
        network,
        source: if had { "payment" } else { "credits" },
        message,
    }))
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AutoFetchBody {
    /// 1 to 1000; 10 when absent.
    #[serde(default, deserialize_with = "crate::extract::whole_or_null")]
    #[schema(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Recover missing transaction hashes.
///
/// Recovers the missing transaction hashes of settled payments from their credited transfers.
#[utoipa::path(
    post,
    path = "/api/payment/payments/auto-fetch-missing",
    operation_id = "autoFetchMissingTx",
    tag = "payments",
    request_body(content = Option<AutoFetchBody>, description = "Optional"),
    responses((status = 200, description = "The hashes recovered", body = AutoFetchAnswer)),
    security(("bearer" = []))
)]
pub(super) async fn auto_fetch_missing(
    State(state): State<AppState>,
    _admin: Admin,
    body: Bytes,
) -> Result<Json<AutoFetchAnswer>, ApiError> {
    let body: AutoFetchBody = super::optional_body(&body)?;
    let limit = checked_limit(body.limit, 10, 1000)?;
    let mut fixed = Vec::new();
    let missing = state.store.payments_missing_tx(limit).await?;
    for payment in &missing {
        if let Some(hash) = repair_tx(&state, payment).await? {
            fixed.push(FixedHash { payment_id: payment.id.clone(), transaction_hash: hash });
        }
    }
    Ok(Json(AutoFetchAnswer { success: true, checked: missing.len(), fixed }))
}

/// Everything about one payment.
///
/// The payment, its transfers, deliveries and
/// settlement, whether its address is watched, and its chain's follower state.
#[utoipa::path(
    get,
    path = "/api/payment/payments/{id}/debug",
    operation_id = "debugPayment",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    responses((status = 200, description = "Everything payscan knows of the payment", body = Envelope<PaymentDebug>)),
    security(("bearer" = []))
)]
pub(super) async fn debug(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<PaymentId>,
) -> Result<Json<Envelope<PaymentDebug>>, ApiError> {
    let payment = super::existing_payment(&state, &id).await?;
    let registry = state.registry.current();
    let overrides = state.store.threshold_overrides().await?;
    let escrow = state.store.escrow_payout(&payment.id).await?;
    Ok(Envelope::of(PaymentDebug {
        transfers: state.store.credits_of(&payment.id).await?.iter().map(CreditedTransfer::from).collect(),
        webhooks: state.store.deliveries_of(&payment.id).await?.iter().map(DeliveryView::from).collect(),
        watched: state.watch.get(&payment.destination).as_ref() == Some(&payment.id),
        chain: state.status.get(payment.rail.chain_id),
        settlement: escrow.as_ref().map(PayoutView::from),
        payment: PaymentView::new(&registry, &overrides, &payment),
    }))
}

/// The admin edit form: metadata, and the status changes a person may make (a pending payment
/// cancelled or failed). Statuses that say where money is come from the chain only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct EditBody {
    /// `cancelled` or `failed`, for a pending payment.
    #[schema(value_type = Option<schemas::PaymentStatus>)]
    status: Option<PaymentStatus>,
    /// Merged into the payment's metadata.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, Value>>,
}

/// Edit a payment.
///
/// Merges metadata; a pending payment may be set `cancelled` or `failed`. Other status changes
/// are refused: money states come from the chain.
#[utoipa::path(
    put,
    path = "/api/payment/{id}",
    operation_id = "editPayment",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    request_body = EditBody,
    responses(
        (status = 200, description = "The payment", body = Envelope<schemas::Payment>),
        (status = 409, description = "A status change by hand that the model refuses (`INVALID_STATE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn edit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<PaymentId>,
    ApiJson(body): ApiJson<EditBody>,
) -> Result<Json<Envelope<PaymentView>>, ApiError> {
    let Changed { payment, .. } = state
        .store
        .edit_payment(&id, body.status, body.metadata, &admin.user_id, clock::now_ms())
        .await
        .map_err(|e| match e {
            StoreError::Change(ChangeError::Transition(refused)) => {
                ApiError::new(ErrorCode::InvalidState, format!("{refused} by hand: money states come from the chain"))
            }
            other => other.into(),
        })?
        .ok_or_else(|| ApiError::not_found("payment not found"))?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, payment_id = %payment.id, status = %payment.status, "payment edited");
    let overrides = state.store.threshold_overrides().await?;
    Ok(Envelope::of(PaymentView::new(&state.registry.current(), &overrides, &payment)))
}

/// The seed's manual create form: `{purchaseRequestId, sellerOfferId, buyerId, sellerId, amount:
/// {amount, currency}, blockchain?: {network, token}, metadata?}`, made the same way as the
/// buyer's own intent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct CreateBody {
    purchase_request_id: String,
    seller_offer_id: String,
    buyer_id: String,
    seller_id: String,
    amount: Money,
    blockchain: Option<Rail>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, Value>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Money {
    /// Token units (USD with oracle quoting on), as a number or decimal string.
    #[schema(value_type = schemas::AmountInput)]
    amount: Box<RawValue>,
    /// The token symbol, unless `blockchain.token` names one.
    currency: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Rail {
    /// A chain id or short name.
    #[schema(value_type = Option<schemas::ChainInput>)]
    network: Option<Value>,
    token: Option<String>,
}

/// Create a payment for a buyer.
///
/// The seed's manual form: the payment the buyer's own intent would make.
#[utoipa::path(
    post,
    path = "/api/payment",
    operation_id = "createPaymentForBuyer",
    tag = "payments",
    request_body = CreateBody,
    responses(
        (status = 201, description = "The payment", body = IntentAnswer),
        (status = 409, description = "Money has arrived at the buyer's open payment (`PAYMENT_IN_PROGRESS`)", body = ErrorBody),
        (status = 422, description = "Beyond the depeg hard cap (`DEPEG_LIMIT_EXCEEDED`)", body = ErrorBody),
        (status = 503, description = "The chain's RPC or price feed is failing, or the database is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(body): ApiJson<CreateBody>,
) -> Result<(StatusCode, Json<IntentAnswer>), ApiError> {
    super::check_id("buyerId", &body.buyer_id)?;
    let token = body.blockchain.as_ref().and_then(|b| b.token.clone()).unwrap_or(body.amount.currency);
    let intent = super::intents::IntentBody::new(
        body.purchase_request_id,
        body.seller_offer_id,
        body.seller_id,
        body.amount.amount,
        Some(token),
        body.blockchain.and_then(|b| b.network),
        body.metadata,
    );
    let buyer = Caller { user_id: body.buyer_id, role: crate::auth::Role::Buyer, expires_at: admin.expires_at };
    let (data, quote) = super::intents::intent(&state, &buyer, intent).await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, buyer = %buyer.user_id, "payment created by an admin");
    Ok((StatusCode::CREATED, IntentAnswer::new(data, quote)))
}
