//! `GET /api/payment/request-network/options`: the rails a buyer may choose, from the registry.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct OptionsQuery {
    seller_id: Option<String>,
    template_id: Option<String>,
}

pub(super) async fn options(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<OptionsQuery>,
) -> Result<Json<Value>, ApiError> {
    for (field, value) in [("sellerId", &query.seller_id), ("templateId", &query.template_id)] {
        if let Some(value) = value {
            super::check_id(field, value)?;
        }
    }
    let registry = state.registry.current();
    let chains = registry.chains();
    let mut tokens: Vec<String> = chains.iter().flat_map(|c| c.tokens.iter().map(|t| t.symbol.clone())).collect();
    tokens.sort();
    tokens.dedup();
    Ok(Json(json!({
        "success": true,
        "data": {
            "allowedChains": chains.iter().map(|c| c.chain_id).collect::<Vec<_>>(),
            "allowedTokens": tokens,
            "source": "default",
            "chains": chains.iter().map(|c| json!({
                "chainId": c.chain_id,
                "name": c.name,
                "shortName": c.short_name,
                "tokens": c.tokens.iter().map(|t| json!({
                    "symbol": t.symbol,
                    "address": t.address.to_checksum(None),
                    "decimals": t.decimals,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        }
    })))
}
