//! Admin routes: the seed's levers over chains, thresholds, the scanner and its webhooks.

pub(super) mod awaiting;
pub(super) mod networks;
pub(super) mod scanner;
pub(super) mod thresholds;

use payscan_core::registry::{Chain, Registry};
use payscan_core::ChainId;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::extract::PathParam;

/// `page` (from 1) and `limit` (1–200).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Page {
    /// From 1.
    page: Option<i64>,
    /// 1 to 200.
    limit: Option<i64>,
    /// Only this chain's payments (awaiting confirmation only).
    #[serde(rename = "chainId")]
    chain_id: Option<String>,
}

impl Page {
    /// `(limit, offset, page)`.
    fn bounds(&self, default_limit: i64) -> Result<(i64, i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let limit = self.limit.unwrap_or(default_limit);
        if page < 1 {
            return Err(ApiError::validation("page starts at 1"));
        }
        if !(1..=200).contains(&limit) {
            return Err(ApiError::validation("limit must be between 1 and 200"));
        }
        Ok((limit, (page - 1).saturating_mul(limit), page))
    }

    fn chain(&self) -> Result<Option<ChainId>, ApiError> {
        self.chain_id.as_deref().map(parse_chain_id).transpose()
    }
}

fn pagination(page: i64, limit: i64, total: i64) -> serde_json::Value {
    serde_json::json!({ "page": page, "limit": limit, "total": total, "totalPages": (total + limit - 1) / limit })
}

/// The registry's chain, else 404.
pub(super) fn chain_or_404(registry: &Registry, chain_id: ChainId) -> Result<&Chain, ApiError> {
    registry.chain(chain_id).ok_or_else(|| ApiError::not_found(format!("chain {chain_id} is not in the registry")))
}

/// A chain id from a path or query: a positive integer, else 400.
pub(crate) fn parse_chain_id(text: &str) -> Result<ChainId, ApiError> {
    text.parse().map_err(|_| ApiError::validation(ChainId::refusal(text)))
}
