//! `POST /api/payment/configuration`: the seed's provider configuration, read without a token by
//! the marketplace's frontend before a checkout.

use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::schemas::{self, ErrorBody};
use crate::state::AppState;
use crate::views::configuration::{AcceptedRail, PaymentConfiguration, Redirects};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(configuration))
}

/// What the configuration is scoped to; every field may be left out, and so may the body.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct ConfigurationBody {
    /// Accepted for the seed's callers and not used: every rail takes any amount.
    #[schema(value_type = Option<schemas::AmountInput>)]
    amount: Option<Box<RawValue>>,
    /// A token symbol: only the rails in that token.
    #[schema(pattern = "^[A-Za-z0-9.]{1,16}$")]
    currency: Option<String>,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    purchase_request_id: Option<String>,
}

/// Payment configuration.
///
/// Every rail of the registry (chain short name, token address, the receiving address where the
/// rail has a fixed one), the checkout's redirect URLs, and payscan's webhook receiver. No token
/// needed, as in the seed.
#[utoipa::path(
    post,
    path = "/api/payment/configuration",
    operation_id = "getPaymentConfiguration",
    tag = "payments",
    request_body(content = Option<ConfigurationBody>, description = "Optional"),
    responses(
        (status = 200, description = "The configuration", body = PaymentConfiguration),
        (status = 400, description = "A field of the wrong form (`VALIDATION_ERROR`)", body = ErrorBody),
    )
)]
pub(super) async fn configuration(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<PaymentConfiguration>, ApiError> {
    let body: ConfigurationBody = super::optional_body(&body)?;
    if let Some(amount) = &body.amount {
        let text = amount.get();
        if !(text.starts_with('"') || text.starts_with(|c: char| c == '-' || c.is_ascii_digit())) {
            return Err(ApiError::validation("amount must be a number or a decimal string"));
        }
    }
    if let Some(currency) = &body.currency {
        let symbol = !currency.is_empty() && currency.len() <= 16;
        if !(symbol && currency.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')) {
            return Err(ApiError::validation("currency must be a token symbol: 1-16 characters of A-Z a-z 0-9 ."));
        }
    }
    if let Some(id) = &body.purchase_request_id {
        super::check_id("purchaseRequestId", id)?;
    }
    let registry = state.registry.current();
    let mut accept = Vec::new();
    for chain in registry.chains() {
        // Only a Request Network payment to the one configured payee has a fixed receiver.
        let receiver = chain.proxy_address.and(state.rn_payee).map(|payee| payee.to_checksum(None));
        for token in &chain.tokens {
            if body.currency.as_deref().is_some_and(|c| !c.eq_ignore_ascii_case(&token.symbol)) {
                continue;
            }
            accept.push(AcceptedRail {
                blockchain: chain.short_name.clone(),
                token: token.address.to_checksum(None),
                receiver: receiver.clone(),
            });
        }
    }
    let links = &state.links;
    Ok(Json(PaymentConfiguration {
        accept,
        redirect: Redirects { success: links.redirect_success.clone(), cancel: links.redirect_cancel.clone() },
        webhook: links.to(super::RECEIVER_PATH),
    }))
}
