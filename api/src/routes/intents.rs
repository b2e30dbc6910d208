//! `POST /api/payment/request-network/intents`: a buyer's payment intent.

use axum::extract::State;
use axum::Json;
use payscan_chain::Endpoints;
use payscan_core::intent::{IntentOutcome, IntentRequest};
use payscan_core::quote::{self, Quote, QuoteError};
use payscan_core::registry::{Chain, Token};
use payscan_core::store::payments::TokenRef;
use payscan_core::store::Rail;
use payscan_core::{clock, Provider};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, ErrorCode};
use crate::extract::ApiJson;
use crate::schemas::{self, AmountInput, ErrorBody};
use crate::state::AppState;
use crate::views::payment::{IntentAnswer, IntentPayment, PaymentView, QuoteView};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create)).routes(routes!(pay_in))
}

/// The seed's intent body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct IntentBody {
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    purchase_request_id: String,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    seller_offer_id: String,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    seller_id: String,
    /// Token units as a JSON number or decimal string; read from its text, never as a float.
    /// In USD with oracle quoting on.
    #[schema(value_type = AmountInput)]
    amount: Box<RawValue>,
    /// A symbol or address; `USDT` when absent.
    token: Option<String>,
    /// A chain id (number or string) or short name; the registry's first chain when absent.
    #[schema(value_type = Option<schemas::ChainInput>)]
    network: Option<Value>,
    /// `amn.scanner` (the default) or `request.network`.
    provider: Option<String>,
    /// Kept with the payment; `templateId` picks a template's rails, `sellerWallet` is where a
    /// release pays.
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, Value>>,
}

impl IntentBody {
    pub(super) fn new(
        purchase_request_id: String,
        seller_offer_id: String,
        seller_id: String,
        amount: Box<RawValue>,
        token: Option<String>,
        network: Option<Value>,
        metadata: Option<serde_json::Map<String, Value>>,
    ) -> Self {
        Self { purchase_request_id, seller_offer_id, seller_id, amount, token, network, provider: None, metadata }
    }
}

/// Create a payment intent.
///
/// A buyer's payment intent: a payment at a fresh derived address, or on the Request Network
/// rail with `provider: "request.network"`. The same buyer and offer get the same open payment
/// back; another rail re-points it while nothing has arrived.
#[utoipa::path(
    post,
    path = "/api/payment/request-network/intents",
    operation_id = "createPaymentIntent",
    tag = "payments",
    request_body = IntentBody,
    responses(
        (status = 200, description = "The payment (and its quote with oracle quoting on)", body = IntentAnswer),
        (status = 409, description = "Money has arrived: the rail can no longer change (`PAYMENT_IN_PROGRESS`)", body = ErrorBody),
        (status = 422, description = "The token is further from $1 than the hard cap (`DEPEG_LIMIT_EXCEEDED`)", body = ErrorBody),
        (status = 429, description = "The caller created more intents than `PAYSCAN_RATE_LIMIT_INTENTS` allows (`RATE_LIMITED`; `Retry-After` says when to try again)", body = ErrorBody),
        (status = 503, description = "The chain's RPC is failing (`CHAIN_UNAVAILABLE`), the price feed is stale or missing (`ORACLE_UNAVAILABLE`), or the database is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<IntentBody>,
) -> Result<Json<IntentAnswer>, ApiError> {
    state.limits.intent(&caller)?;
    let (data, quote) = intent(&state, &caller, body).await?;
    Ok(IntentAnswer::new(data, quote))
}

/// The seed's legacy pay-in body: an intent on the Request Network rail.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct PayInBody {
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    purchase_request_id: String,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    seller_offer_id: String,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    seller_id: String,
    #[schema(value_type = AmountInput)]
    amount: Box<RawValue>,
    token: Option<String>,
    #[schema(value_type = Option<schemas::ChainInput>)]
    network: Option<Value>,
    #[schema(value_type = Option<Object>)]
    metadata: Option<serde_json::Map<String, Value>>,
}

/// Create a Request Network pay-in.
///
/// The seed's legacy pay-in: the same payment as an intent with
/// `provider: "request.network"`, in the seed's pay-in shape (`paymentUrl` is payscan's own
/// checkout, `providerPaymentId` the payment reference).
#[utoipa::path(
    post,
    path = "/api/payment/request-network/pay-in",
    operation_id = "createPayIn",
    tag = "payments",
    request_body = PayInBody,
    responses(
        (status = 200, description = "The payment, with `paymentUrl` and `providerPaymentId`", body = IntentAnswer),
        (status = 409, description = "Money has arrived: the rail can no longer change (`PAYMENT_IN_PROGRESS`)", body = ErrorBody),
        (status = 422, description = "The token is further from $1 than the hard cap (`DEPEG_LIMIT_EXCEEDED`)", body = ErrorBody),
        (status = 429, description = "The caller created more intents than `PAYSCAN_RATE_LIMIT_INTENTS` allows (`RATE_LIMITED`; `Retry-After` says when to try again)", body = ErrorBody),
        (status = 503, description = "The chain's RPC is failing (`CHAIN_UNAVAILABLE`), the price feed is stale or missing (`ORACLE_UNAVAILABLE`), or the database is busy", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn pay_in(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PayInBody>,
) -> Result<Json<IntentAnswer>, ApiError> {
    state.limits.intent(&caller)?;
    let body = IntentBody {
        purchase_request_id: body.purchase_request_id,
        seller_offer_id: body.seller_offer_id,
        seller_id: body.seller_id,
        amount: body.amount,
        token: body.token,
        network: body.network,
        provider: Some(Provider::RequestNetwork.as_str().to_owned()),
        metadata: body.metadata,
    };
    let (mut data, quote) = intent(&state, &caller, body).await?;
    data.payment_url = Some(format!("/api/payment/request-network/{}/checkout", data.payment.payment_id));
    data.provider_payment_id = data.payment.payment_reference.clone();
    Ok(IntentAnswer::new(data, quote))
}

/// With oracle quoting on, `amount` is in USD: the token's feed gives the settlement amount.
async fn quote(state: &AppState, chain: &Chain, token: &Token, usd: &RawValue) -> Result<Quote, ApiError> {
    let unavailable = |why: String| ApiError::new(ErrorCode::OracleUnavailable, why);
    let usd_amount = super::decimal_amount(usd, quote::USD_DECIMALS, "USD")?;
    let feed = token
        .price_feed
        .ok_or_else(|| unavailable(format!("{} on {} has no price feed", token.symbol, chain.short_name)))?;
    // A buyer waits on the quote: failover to the next endpoint, no retry rounds.
    let provider = Endpoints::of(chain, FEED_TIMEOUT).retries(0).connect().map_err(ApiError::internal)?;
    let round = payscan_chain::read::latest_round(&provider, feed).await.map_err(|e| {
        tracing::warn!(target: "payscan::api", chain_id = %chain.chain_id, %feed, error = %e, "price feed read failed");
        unavailable(format!("the price feed of {} on {} did not answer", token.symbol, chain.short_name))
    })?;
    quote::compute(usd_amount, token.decimals, round, &state.quotes, clock::now_ms()).map_err(|e| match e {
        QuoteError::Unavailable(why) => unavailable(why),
        e @ QuoteError::TooLarge => ApiError::validation(e.to_string()),
        e @ QuoteError::DepegLimitExceeded { .. } => ApiError::new(ErrorCode::DepegLimitExceeded, e.to_string()),
    })
}

fn unsupported(network: &str) -> ApiError {
    ApiError::validation(format!("network `{network}` is not supported"))
}

/// How long a price feed read may take.
const FEED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) async fn intent(
    state: &AppState,
    caller: &Caller,
    body: IntentBody,
) -> Result<(IntentPayment, Option<QuoteView>), ApiError> {
    super::check_id("purchaseRequestId", &body.purchase_request_id)?;
    super::check_id("sellerOfferId", &body.seller_offer_id)?;
    super::check_id("sellerId", &body.seller_id)?;

    let provider = match body.provider.as_deref() {
        None | Some("amn.scanner") => Provider::AmnScanner,
        Some("request.network") => Provider::RequestNetwork,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "provider `{other}` is unknown (expected amn.scanner or request.network)"
            )))
        }
    };

    let registry = state.registry.current();
    let defaults = &state.intent_defaults;
    let chain = match &body.network {
        None => registry.resolve_network(&defaults.network).ok_or_else(|| {
            ApiError::validation(format!(
                "no network named, and the default network `{}` (PAYSCAN_DEFAULT_NETWORK) is not supported",
                defaults.network
            ))
        })?,
        Some(Value::String(name)) => registry.resolve_network(name).ok_or_else(|| unsupported(name))?,
        Some(Value::Number(n)) => {
            registry.resolve_network(&n.to_string()).ok_or_else(|| unsupported(&n.to_string()))?
        }
        Some(_) => return Err(ApiError::validation("network must be a chain id or short name")),
    };
    if state.status.is_down(chain.chain_id) {
        return Err(ApiError::new(
            ErrorCode::ChainUnavailable,
            format!(
                "{} cannot be followed right now (its RPC is failing); try again later or another network",
                chain.name
            ),
        ));
    }
    if provider == Provider::RequestNetwork && chain.proxy_address.is_none() {
        return Err(ApiError::validation(format!(
            "request.network is not available on {}: the registry names no ERC20FeeProxy for it",
            chain.short_name
        )));
    }
    let token_name = body.token.as_deref().unwrap_or(&defaults.token);
    let token = chain
        .resolve_token(token_name)
        .ok_or_else(|| ApiError::validation(format!("token {token_name} is not supported on {}", chain.short_name)))?;

    // The seller's (or the template's) accepted rails, by the same precedence as the options.
    let template_id = body.metadata.as_ref().and_then(|m| m.get("templateId")).and_then(Value::as_str);
    if let Some(template_id) = template_id {
        super::check_id("metadata.templateId", template_id)?;
    }
    let (store_rails, template_rails) = super::options::configs(state, Some(&body.seller_id), template_id).await?;
    let allowed = payscan_core::rails::resolve(&registry, store_rails.as_ref(), template_rails.as_ref());
    if !allowed.allows(chain, token) {
        return Err(ApiError::new(
            ErrorCode::RailNotAllowed,
            format!(
                "{} on {} is not among the rails this seller accepts (see the options route)",
                token.symbol, chain.short_name
            ),
        ));
    }
    let quoted = if state.quotes.enabled { Some(quote(state, chain, token, &body.amount).await?) } else { None };
    let amount = match &quoted {
        Some(quote) => quote.settle,
        None => super::token_amount(&body.amount, token)?,
    };

    let request = IntentRequest {
        buyer_id: caller.user_id.clone(),
        seller_id: body.seller_id,
        seller_offer_id: body.seller_offer_id,
        purchase_request_id: body.purchase_request_id,
        rail: Rail {
            provider,
            chain_id: chain.chain_id,
            token: TokenRef { symbol: token.symbol.clone(), address: token.address, decimals: token.decimals },
            amount,
        },
        metadata: Value::Object(body.metadata.unwrap_or_default()),
        ttl: state.payment_ttl,
        rn_payee: state.rn_payee,
    };
    let outcome =
        payscan_core::intent::create_or_repoint(&state.store, state.deriver.as_ref(), &request, clock::now_ms())
            .await?;
    let payment = outcome.payment();
    let overrides = state.store.threshold_overrides().await?;
    let data = IntentPayment {
        payment: PaymentView::new(&registry, &overrides, payment),
        created: matches!(outcome, IntentOutcome::Created(_)),
        repointed: matches!(outcome, IntentOutcome::Repointed(_)),
        payment_url: None,
        provider_payment_id: None,
    };
    tracing::info!(target: "payscan::api", payment_id = %payment.id, chain_id = %payment.rail.chain_id,
        provider = payment.rail.provider.as_str(), index = %payment.derivation_index,
        created = matches!(outcome, IntentOutcome::Created(_)), "intent");
    let quote = match &quoted {
        Some(quote) => {
            let id =
                state.store.insert_quote(&payment.id, chain.chain_id, &token.symbol, quote, clock::now_ms()).await?;
            Some(QuoteView::new(id, token, quote))
        }
        None => None,
    };
    Ok((data, quote))
}
