//! Admin routes: the seed's levers over chains, thresholds, the scanner and its webhooks.

pub(super) mod awaiting;
pub(super) mod networks;
pub(super) mod scanner;
pub(super) mod thresholds;

use payscan_core::registry::{Chain, Registry};
use payscan_core::ChainId;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::extract::PathParam;
use crate::paging::Paging;
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(thresholds::router())
        .merge(awaiting::router())
        .merge(networks::router())
        .merge(scanner::router())
}

/// `page` (from 1) and `limit` (1–200).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Page {
    /// From 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 200.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Only this chain's payments or threshold changes.
    #[serde(rename = "chainId")]
    #[param(value_type = Option<i64>, minimum = 1)]
    chain_id: Option<String>,
}

impl Page {
    fn bounds(&self, default_limit: i64) -> Result<Paging, ApiError> {
        Paging::by_page(self.page, self.limit, default_limit)
    }

    fn chain(&self) -> Result<Option<ChainId>, ApiError> {
        self.chain_id.as_deref().map(parse_chain_id).transpose()
    }
}

/// The registry's chain, else 404.
pub(super) fn chain_or_404(registry: &Registry, chain_id: ChainId) -> Result<&Chain, ApiError> {
    registry.chain(chain_id).ok_or_else(|| ApiError::not_found(format!("chain {chain_id} is not in the registry")))
}

/// A chain id from a path or query: a positive integer, else 400.
pub(crate) fn parse_chain_id(text: &str) -> Result<ChainId, ApiError> {
    text.parse().map_err(|_| ApiError::validation(ChainId::refusal(text)))
}
