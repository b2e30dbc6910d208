//! `POST /api/payment/request-network/intents`: a buyer's payment intent.

use axum::extract::State;
use axum::Json;
use payscan_core::intent::{self, IntentOutcome, IntentRequest};
use payscan_core::store::payments::TokenRef;
use payscan_core::store::Rail;
use payscan_core::{clock, Provider};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::views;

/// The seed's intent body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct IntentBody {
    purchase_request_id: String,
    seller_offer_id: String,
    seller_id: String,
    /// Token units as a JSON number or decimal string; read from its text, never as a float.
    amount: Box<RawValue>,
    token: Option<String>,
    /// A chain id (number or string) or short name.
    network: Option<Value>,
    provider: Option<String>,
    metadata: Option<serde_json::Map<String, Value>>,
}

const DEFAULT_TOKEN: &str = "USDT";

pub(super) async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<IntentBody>,
) -> Result<Json<Value>, ApiError> {
    super::check_id("purchaseRequestId", &body.purchase_request_id)?;
    super::check_id("sellerOfferId", &body.seller_offer_id)?;
    super::check_id("sellerId", &body.seller_id)?;

    let provider = match body.provider.as_deref() {
        None | Some("amn.scanner") => Provider::AmnScanner,
        Some("request.network") => {
            return Err(ApiError::validation("provider request.network is not enabled on this payscan"))
        }
        Some(other) => {
            return Err(ApiError::validation(format!(
                "provider `{other}` is unknown (expected amn.scanner or request.network)"
            )))
        }
    };

    let registry = state.registry.current();
    let chain = match &body.network {
        None => registry.chains().first(),
        Some(Value::String(name)) => registry.resolve_network(name),
        Some(Value::Number(n)) => registry.resolve_network(&n.to_string()),
        Some(_) => return Err(ApiError::validation("network must be a chain id or short name")),
    }
    .ok_or_else(|| ApiError::validation("network is not supported"))?;
    if state.status.is_down(chain.chain_id) {
        return Err(ApiError::unavailable(
            "CHAIN_UNAVAILABLE",
            format!(
                "{} cannot be followed right now (its RPC is failing); try again later or another network",
                chain.name
            ),
        ));
    }
    let token_name = body.token.as_deref().unwrap_or(DEFAULT_TOKEN);
    let token = chain
        .resolve_token(token_name)
        .ok_or_else(|| ApiError::validation(format!("token {token_name} is not supported on {}", chain.short_name)))?;

    let amount = super::token_amount(&body.amount, token)?;

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
    };
    let outcome = intent::create_or_repoint(&state.store, state.deriver.as_ref(), &request, clock::now_ms()).await?;
    let payment = outcome.payment();
    let overrides = state.store.threshold_overrides().await?;
    let mut data = views::payment(&registry, &overrides, payment);
    if let Some(map) = data.as_object_mut() {
        map.insert("created".into(), json!(matches!(outcome, IntentOutcome::Created(_))));
        map.insert("repointed".into(), json!(matches!(outcome, IntentOutcome::Repointed(_))));
    }
    tracing::info!(target: "payscan::api", payment_id = %payment.id, chain_id = %payment.rail.chain_id,
        index = %payment.derivation_index, created = matches!(outcome, IntentOutcome::Created(_)), "intent");
    Ok(Json(json!({ "success": true, "data": data })))
}
