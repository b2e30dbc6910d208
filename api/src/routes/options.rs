//! `GET /api/payment/request-network/options`: the rails a buyer may choose for a seller or
//! template checkout, by the seed's precedence (template override, store default, global
//! default); and the admin routes that set the store and template configurations.

use axum::extract::{Path, State};
use axum::Json;
use payscan_core::clock;
use payscan_core::rails;
use payscan_core::registry::Registry;
use payscan_core::store::rails::{RailConfig, RailScope};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Caller};
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::schemas::{self, Envelope};
use crate::state::AppState;
use crate::views::options::{CheckoutOptions, Deleted, RailConfigView};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(options)).routes(routes!(get_config, put_config, delete_config))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct OptionsQuery {
    #[param(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    seller_id: Option<String>,
    #[param(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    template_id: Option<String>,
}

/// The stored store and template configurations that apply to a checkout.
pub(crate) async fn configs(
    state: &AppState,
    seller_id: Option<&str>,
    template_id: Option<&str>,
) -> Result<(Option<RailConfig>, Option<RailConfig>), ApiError> {
    let store = match seller_id {
        Some(id) => state.store.rail_config(RailScope::Store, id).await?,
        None => None,
    };
    // A template is a seller's: a buyer naming another seller's template gets nothing from it.
    let template = match template_id {
        Some(id) => state
            .store
            .rail_config(RailScope::Template, id)
            .await?
            .filter(|t| seller_id.is_some() && t.seller_id.as_deref() == seller_id),
        None => None,
    };
    Ok((store, template))
}

/// Checkout rails.
///
/// The rails a checkout offers, by the seed's precedence: a template that opts out of its store
/// default (`source: "item"`), else the seller's store configuration (`"store"`), else every
/// registry chain and token (`"default"`).
#[utoipa::path(
    get,
    path = "/api/payment/request-network/options",
    operation_id = "getCheckoutOptions",
    tag = "checkout",
    params(OptionsQuery),
    responses((status = 200, description = "The allowed chains and tokens", body = Envelope<CheckoutOptions>)),
    security(("bearer" = []))
)]
pub(super) async fn options(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(query): ApiQuery<OptionsQuery>,
) -> Result<Json<Envelope<CheckoutOptions>>, ApiError> {
    for (field, value) in [("sellerId", &query.seller_id), ("templateId", &query.template_id)] {
        if let Some(value) = value {
            super::check_id(field, value)?;
        }
    }
    let registry = state.registry.current();
    let (store, template) = configs(&state, query.seller_id.as_deref(), query.template_id.as_deref()).await?;
    let allowed = rails::resolve(&registry, store.as_ref(), template.as_ref());
    Ok(Envelope::of(CheckoutOptions::from(&allowed)))
}

/// A store or template configuration as an admin sets it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ConfigBody {
    /// Chain ids or short names; empty or absent: every chain.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    allowed_chains: Vec<Value>,
    /// Token symbols; empty or absent: every token.
    #[serde(default)]
    allowed_tokens: Vec<String>,
    /// Templates only: follow the store default (the default) instead of these lists.
    use_shop_default: Option<bool>,
    /// Stores only: the seller's wallet, where a release without `to` pays. Absent: none (a
    /// release must then name `to`).
    #[schema(value_type = Option<schemas::Address>)]
    payout_address: Option<String>,
    /// Templates only, required: the seller the template belongs to; it applies to that seller's
    /// checkouts only.
    seller_id: Option<String>,
}

/// A configuration's fields once checked.
struct Checked {
    use_shop_default: bool,
    chains: Vec<payscan_core::ChainId>,
    tokens: Vec<String>,
    payout_address: Option<alloy::primitives::Address>,
    seller_id: Option<String>,
}

fn validate(registry: &Registry, scope: RailScope, body: ConfigBody) -> Result<Checked, ApiError> {
    if scope == RailScope::Store && body.use_shop_default.is_some() {
        return Err(ApiError::validation("useShopDefault applies to templates only"));
    }
    if scope == RailScope::Store && body.seller_id.is_some() {
        return Err(ApiError::validation("sellerId applies to templates only (a store is its seller)"));
    }
    if scope == RailScope::Template && body.payout_address.is_some() {
        return Err(ApiError::validation("payoutAddress applies to stores only"));
    }
    let seller_id = match (scope, body.seller_id) {
        (RailScope::Template, None) => {
            return Err(ApiError::validation("sellerId is required: a template belongs to one seller"))
        }
        (_, Some(seller)) => {
            super::check_id("sellerId", &seller)?;
            Some(seller)
        }
        (_, None) => None,
    };
    let payout_address = body
        .payout_address
        .as_deref()
        .map(|a| {
            let address = payscan_core::registry::parse_address(a)
                .map_err(|e| ApiError::validation(format!("payoutAddress: {e}")))?;
            if address.is_zero() {
                return Err(ApiError::validation("payoutAddress must not be the zero address"));
            }
            Ok(address)
        })
        .transpose()?;
    let mut chains = Vec::new();
    for chain in &body.allowed_chains {
        let text = match chain {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => return Err(ApiError::validation("allowedChains holds chain ids or short names")),
        };
        let found = registry
            .resolve_network(&text)
            .ok_or_else(|| ApiError::validation(format!("chain `{text}` is not supported")))?;
        if !chains.contains(&found.chain_id) {
            chains.push(found.chain_id);
        }
    }
    let mut tokens = Vec::new();
    for symbol in &body.allowed_tokens {
        let upper = symbol.trim().to_ascii_uppercase();
        let known = registry
            .chains()
            .iter()
            .filter(|c| chains.is_empty() || chains.contains(&c.chain_id))
            .any(|c| c.tokens.iter().any(|t| t.symbol.eq_ignore_ascii_case(&upper)));
        if !known {
            return Err(ApiError::validation(format!("token `{symbol}` is not supported on the allowed chains")));
        }
        if !tokens.contains(&upper) {
            tokens.push(upper);
        }
    }
    Ok(Checked {
        use_shop_default: body.use_shop_default.unwrap_or(scope == RailScope::Template),
        chains,
        tokens,
        payout_address,
        seller_id,
    })
}

fn scope(kind: &str) -> Result<RailScope, ApiError> {
    match kind {
        "stores" => Ok(RailScope::Store),
        "templates" => Ok(RailScope::Template),
        _ => Err(ApiError::not_found("no such route")),
    }
}

/// Set a store's or template's rails.
///
/// Sets a store's or template's rails (chain ids or short names, token symbols; an empty list
/// leaves that dimension open; a template follows its store unless `useShopDefault: false`). A
/// store may name its seller's `payoutAddress` (releases without `to` pay it); a template names
/// the `sellerId` it belongs to. The body replaces the whole configuration.
#[utoipa::path(
    put,
    path = "/api/admin/payment-config/{kind}/{id}",
    operation_id = "putRailConfig",
    tag = "admin",
    params(
        ("kind" = String, Path, pattern = "^(stores|templates)$", description = "`stores` or `templates`"),
        ("id" = String, Path, pattern = "^[A-Za-z0-9_.:-]{1,128}$", description = "The seller or template id"),
    ),
    request_body = ConfigBody,
    responses((status = 200, description = "The configuration saved", body = Envelope<schemas::RailConfig>)),
    security(("bearer" = []))
)]
pub(super) async fn put_config(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path((kind, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ConfigBody>,
) -> Result<Json<Envelope<RailConfigView>>, ApiError> {
    let scope = scope(&kind)?;
    super::check_id("id", &id)?;
    let checked = validate(&state.registry.current(), scope, body)?;
    let config = RailConfig {
        scope,
        key: id,
        use_shop_default: checked.use_shop_default,
        allowed_chains: checked.chains,
        allowed_tokens: checked.tokens,
        payout_address: checked.payout_address,
        seller_id: checked.seller_id,
        updated_by: admin.user_id.clone(),
        updated_at: clock::now_ms(),
    };
    state.store.save_rail_config(&config).await?;
    tracing::info!(target: "payscan::api", by = %admin.user_id, scope = scope.as_str(), id = %config.key, "rail config saved");
    Ok(Envelope::of(RailConfigView::from(&config)))
}

/// A store's or template's rails.
#[utoipa::path(
    get,
    path = "/api/admin/payment-config/{kind}/{id}",
    operation_id = "getRailConfig",
    tag = "admin",
    params(
        ("kind" = String, Path, pattern = "^(stores|templates)$", description = "`stores` or `templates`"),
        ("id" = String, Path, pattern = "^[A-Za-z0-9_.:-]{1,128}$", description = "The seller or template id"),
    ),
    responses((status = 200, description = "The configuration", body = Envelope<schemas::RailConfig>)),
    security(("bearer" = []))
)]
pub(super) async fn get_config(
    State(state): State<AppState>,
    _admin: Admin,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Envelope<RailConfigView>>, ApiError> {
    let scope = scope(&kind)?;
    let config = state
        .store
        .rail_config(scope, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no {} configuration for `{id}`", scope.as_str())))?;
    Ok(Envelope::of(RailConfigView::from(&config)))
}

/// Remove a store's or template's rails.
#[utoipa::path(
    delete,
    path = "/api/admin/payment-config/{kind}/{id}",
    operation_id = "deleteRailConfig",
    tag = "admin",
    params(
        ("kind" = String, Path, pattern = "^(stores|templates)$", description = "`stores` or `templates`"),
        ("id" = String, Path, pattern = "^[A-Za-z0-9_.:-]{1,128}$", description = "The seller or template id"),
    ),
    responses((status = 200, description = "Removed", body = Envelope<Deleted>)),
    security(("bearer" = []))
)]
pub(super) async fn delete_config(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Envelope<Deleted>>, ApiError> {
    let scope = scope(&kind)?;
    if !state.store.delete_rail_config(scope, &id).await? {
        return Err(ApiError::not_found(format!("no {} configuration for `{id}`", scope.as_str())));
    }
    tracing::info!(target: "payscan::api", by = %admin.user_id, scope = scope.as_str(), id = %id, "rail config removed");
    Ok(Envelope::of(Deleted { deleted: true }))
}
