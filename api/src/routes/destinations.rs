//! Derived destinations (admin): the list with the seed's filters, a balance refreshed from the
//! chain, and the custody configuration's health.

use std::time::Duration;

use axum::extract::State;
use axum::Json;
use payscan_chain::Endpoints;
use payscan_core::money::AmountError;
use payscan_core::registry::parse_address;
use payscan_core::store::destinations::DestinationFilter;
use payscan_core::{clock, BaseUnits, PaymentId};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiPath, ApiQuery};
use crate::paging::Paging;
use crate::schemas::{self, ErrorBody};
use crate::state::AppState;
use crate::views::custody::{CronStatus, CustodyHealth, DestinationPage, DestinationView, SweepResults};
use crate::views::{Envelope, Pagination};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(health))
        .routes(routes!(refresh_balance))
        .routes(routes!(sweep_one))
        .routes(routes!(sweep_all))
        .routes(routes!(cron_start))
        .routes(routes!(cron_stop))
        .routes(routes!(cron_status))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    #[param(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    buyer_id: Option<String>,
    #[param(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    seller_offer_id: Option<String>,
    /// `active` or `swept`.
    #[param(pattern = "^(active|swept)$")]
    status: Option<String>,
    /// EIP-55 checksummed when it mixes cases.
    #[param(pattern = "^0x[0-9a-fA-F]{40}$")]
    address: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1)]
    chain_id: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 200; 20 when absent.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// Derived destinations.
///
/// Derived destinations with the seed's filters.
#[utoipa::path(
    get,
    path = "/api/payment/derived-destinations",
    operation_id = "listDestinations",
    tag = "custody",
    params(ListQuery),
    responses((status = 200, description = "A page of destinations", body = Envelope<DestinationPage>)),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Envelope<DestinationPage>>, ApiError> {
    let swept = match query.status.as_deref() {
        None => None,
        Some("active") => Some(false),
        Some("swept") => Some(true),
        Some(other) => return Err(ApiError::validation(format!("status must be active or swept, got `{other}`"))),
    };
    for (field, value) in [("buyerId", &query.buyer_id), ("sellerOfferId", &query.seller_offer_id)] {
        if let Some(value) = value {
            super::check_id(field, value)?;
        }
    }
    let filter = DestinationFilter {
        buyer_id: query.buyer_id,
        seller_offer_id: query.seller_offer_id,
        address: query.address.as_deref().map(parse_address).transpose().map_err(ApiError::validation)?,
        chain_id: query.chain_id.as_deref().map(super::admin::parse_chain_id).transpose()?,
        swept,
    };
    let paging = Paging::by_page(query.page, query.limit, 20)?;
    let (destinations, total) = state.store.destinations(&filter, paging.limit, paging.offset).await?;
    let pagination = Pagination::by_page(paging, total);
    Ok(Envelope::of(DestinationPage {
        destinations: destinations.iter().map(DestinationView::from).collect(),
        pagination,
    }))
}

/// How long a balance read may take.
const BALANCE_TIMEOUT: Duration = Duration::from_secs(10);

/// Refresh a destination's balance.
///
/// The destination's token balance, read from the chain now.
#[utoipa::path(
    post,
    path = "/api/payment/derived-destinations/{id}/balance",
    operation_id = "refreshDestinationBalance",
    tag = "custody",
    params(("id" = PaymentId, Path, description = "The destination (its payment's id, `pay_…`)")),
    responses(
        (status = 200, description = "The destination with its balance", body = Envelope<schemas::Destination>),
        (status = 503, description = "The chain's RPC did not answer (`CHAIN_UNAVAILABLE`)", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn refresh_balance(
    State(state): State<AppState>,
    _admin: Admin,
    ApiPath(id): ApiPath<PaymentId>,
) -> Result<Json<Envelope<DestinationView>>, ApiError> {
    let destination =
        state.store.destination(&id).await?.ok_or_else(|| ApiError::not_found("destination not found"))?;
    let registry = state.registry.current();
    let chain = registry
        .chain(destination.chain_id)
        .ok_or_else(|| ApiError::not_found(format!("chain {} is no longer in the registry", destination.chain_id)))?;
    // An admin waits on the answer: failover to the next endpoint, no retry rounds.
    let provider = Endpoints::of(chain, BALANCE_TIMEOUT).retries(0).connect().map_err(ApiError::internal)?;
    let balance = payscan_chain::read::token_balance(&provider, destination.token, destination.address).await;
    let balance = balance.map_err(|e| {
        tracing::warn!(target: "payscan::api", chain_id = %chain.chain_id, error = %e, "balance read failed");
        ApiError::new(ErrorCode::ChainUnavailable, format!("chain {}'s RPC did not answer", chain.chain_id))
    })?;
    state.store.save_destination_balance(&id, BaseUnits(balance), clock::now_ms()).await?;
    let refreshed = state.store.destination(&id).await?.ok_or_else(|| ApiError::not_found("destination not found"))?;
    Ok(Envelope::of(DestinationView::from(&refreshed)))
}

/// Custody's health.
///
/// Custody's configuration: the xpub, the signer and whether its keys derive the xpub's
/// addresses, the master wallet, relayer and payout addresses. Never a key.
#[utoipa::path(
    get,
    path = "/api/payment/derived-destinations/config/health",
    operation_id = "getCustodyHealth",
    tag = "custody",
    responses((status = 200, description = "Custody's health", body = Envelope<CustodyHealth>)),
    security(("bearer" = []))
)]
pub(super) async fn health(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Envelope<CustodyHealth>>, ApiError> {
    let chain_id = state.registry.current().chains().first().map(|c| c.chain_id);
    Ok(Envelope::of(CustodyHealth { keys: state.keys.health(), chain_id }))
}

#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SweepBody {
    #[serde(default, deserialize_with = "crate::extract::whole_or_null")]
    #[schema(minimum = 1)]
    chain_id: Option<u64>,
    token_symbol: Option<String>,
    /// In token units, like every amount a person types.
    #[schema(value_type = Option<schemas::TokenUnits>)]
    min_sweep_amount: Option<String>,
}

/// A sweep of one destination: its chain and token are the payment's, so only the minimum.
#[derive(Debug, Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct SweepOneBody {
    /// In token units, like every amount a person types.
    #[schema(value_type = Option<schemas::TokenUnits>)]
    min_sweep_amount: Option<String>,
}

/// `minSweepAmount`'s form (`TokenUnits`), checked before any destination is read: a sweep that
/// matches nothing still refuses a malformed minimum.
fn check_minimum(text: Option<&str>) -> Result<(), ApiError> {
    let decimal = |t: &str| {
        let (int_part, frac_part) = t.split_once('.').unwrap_or((t, "0"));
        [int_part, frac_part].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    match text {
        Some(text) if !decimal(text) => {
            Err(ApiError::validation(format!("minSweepAmount must be token units as a decimal string, got `{text}`")))
        }
        _ => Ok(()),
    }
}

fn minimum(text: Option<&str>, decimals: u8) -> Result<BaseUnits, ApiError> {
    match text {
        None => Ok(BaseUnits::ZERO),
        Some(text) => match BaseUnits::parse_token_units(text, decimals) {
            Ok(min) => Ok(min),
            Err(AmountError::Zero) => Ok(BaseUnits::ZERO),
            Err(e) => Err(ApiError::validation(format!("minSweepAmount: {e}"))),
        },
    }
}

/// Sweep one destination.
///
/// Moves a completed payment's destination balance to the master wallet: by the destination's
/// own EIP-2612 permit, submitted by the relayer, for a permit token; else a gas top-up, then the
/// destination's own `transfer`. With the build-only signer: the payloads, unsent.
#[utoipa::path(
    post,
    path = "/api/payment/derived-destinations/{id}/sweep",
    operation_id = "sweepDestination",
    tag = "custody",
    params(("id" = PaymentId, Path, description = "The destination (its payment's id, `pay_…`)")),
    request_body(content = Option<SweepOneBody>, description = "Optional"),
    responses((status = 200, description = "`success`, `error`, `skipped` or `built`", body = Envelope<SweepResults>)),
    security(("bearer" = []))
)]
pub(super) async fn sweep_one(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiPath(id): ApiPath<PaymentId>,
    body: axum::body::Bytes,
) -> Result<Json<Envelope<SweepResults>>, ApiError> {
    let body: SweepOneBody = super::optional_body(&body)?;
    check_minimum(body.min_sweep_amount.as_deref())?;
    let payment = state.store.payment(&id).await?.ok_or_else(|| ApiError::not_found("destination not found"))?;
    let min = minimum(body.min_sweep_amount.as_deref(), payment.rail.token.decimals)?;
    let result = state.sweeper.sweep(&payment, min).await;
    tracing::info!(target: "payscan::api", by = %admin.user_id, destination = %id, status = ?result.status, "sweep");
    Ok(Envelope::of(SweepResults { results: vec![result] }))
}

/// Sweep every destination.
///
/// Sweeps every completed payment's destination that matches.
#[utoipa::path(
    post,
    path = "/api/payment/derived-destinations/sweep",
    operation_id = "sweepAllDestinations",
    tag = "custody",
    request_body(content = Option<SweepBody>, description = "Optional filters"),
    responses((status = 200, description = "One result per destination", body = Envelope<SweepResults>)),
    security(("bearer" = []))
)]
pub(super) async fn sweep_all(
    State(state): State<AppState>,
    Admin(admin): Admin,
    body: axum::body::Bytes,
) -> Result<Json<Envelope<SweepResults>>, ApiError> {
    let body: SweepBody = super::optional_body(&body)?;
    check_minimum(body.min_sweep_amount.as_deref())?;
    let chain_id = body.chain_id.map(|id| super::admin::parse_chain_id(&id.to_string())).transpose()?;
    let payments = state.store.sweepable_payments(chain_id, body.token_symbol.as_deref()).await?;
    let mut results = Vec::with_capacity(payments.len());
    for payment in &payments {
        let min = minimum(body.min_sweep_amount.as_deref(), payment.rail.token.decimals)?;
        results.push(state.sweeper.sweep(payment, min).await);
    }
    tracing::info!(target: "payscan::api", by = %admin.user_id, destinations = results.len(), "sweep of all destinations");
    Ok(Envelope::of(SweepResults { results }))
}

/// Start the sweep cron.
///
/// Starts the sweep cron: every `PAYSCAN_SWEEP_INTERVAL` it sweeps every completed payment's
/// destination.
#[utoipa::path(
    post,
    path = "/api/payment/derived-destinations/cron/start",
    operation_id = "startSweepCron",
    tag = "custody",
    responses((status = 200, description = "The cron's status", body = Envelope<CronStatus>)),
    security(("bearer" = []))
)]
pub(super) async fn cron_start(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<Envelope<CronStatus>>, ApiError> {
    state.sweep_cron.start().await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, "sweep cron started");
    cron_status(State(state), Admin(admin)).await
}

/// Stop the sweep cron.
#[utoipa::path(
    post,
    path = "/api/payment/derived-destinations/cron/stop",
    operation_id = "stopSweepCron",
    tag = "custody",
    responses((status = 200, description = "The cron's status", body = Envelope<CronStatus>)),
    security(("bearer" = []))
)]
pub(super) async fn cron_stop(
    State(state): State<AppState>,
    Admin(admin): Admin,
) -> Result<Json<Envelope<CronStatus>>, ApiError> {
    state.sweep_cron.stop().await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, "sweep cron stopped");
    cron_status(State(state), Admin(admin)).await
}

/// The sweep cron's status.
#[utoipa::path(
    get,
    path = "/api/payment/derived-destinations/cron/status",
    operation_id = "getSweepCronStatus",
    tag = "custody",
    responses((status = 200, description = "Whether it runs, its interval and its last run", body = Envelope<CronStatus>)),
    security(("bearer" = []))
)]
pub(super) async fn cron_status(
    State(state): State<AppState>,
    _admin: Admin,
) -> Result<Json<Envelope<CronStatus>>, ApiError> {
    let cron = &state.sweep_cron;
    Ok(Envelope::of(CronStatus {
        running: cron.is_running().await?,
        interval_seconds: cron.interval().as_secs_f64(),
        last_run: cron.last_run().await?,
    }))
}
