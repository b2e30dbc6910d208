//! `GET /api/payment/:id` and `GET /api/payment`.

use axum::extract::State;
use axum::Json;
use payscan_core::{PaymentId, PaymentStatus};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::paging::Paging;
use crate::schemas::{Envelope, Paged, Payment, PaymentDetail};
use crate::state::AppState;
use crate::views;
use crate::views::payout::DeliveryView;

/// A payment.
///
/// The payment, its transfers, and (admins) every webhook delivery of its events.
#[utoipa::path(
    get,
    path = "/api/payment/{id}",
    tag = "payments",
    params(("id" = String, Path, description = "The payment id (`pay_…`)")),
    responses((status = 200, description = "The payment", body = Envelope<PaymentDetail>)),
    security(("bearer" = []))
)]
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PaymentId>,
) -> Result<Json<Value>, ApiError> {
    let payment = super::readable_payment(&state, &caller, &id).await?;
    let overrides = state.store.threshold_overrides().await?;
    let mut data = views::payment(&state.registry.current(), &overrides, &payment);
    let transfers: Vec<Value> = state.store.credits_of(&payment.id).await?.iter().map(|c| c.to_json()).collect();
    if let Some(map) = data.as_object_mut() {
        map.insert("transfers".into(), Value::Array(transfers));
        if caller.is_admin() {
            let deliveries = state.store.deliveries_of(&payment.id).await?;
            map.insert("webhooks".into(), deliveries.iter().map(DeliveryView::from).map(|d| json!(d)).collect());
        }
    }
    Ok(Json(json!({ "success": true, "data": data })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Comma-separated statuses (`pending,processing`); every status when absent.
    status: Option<String>,
    /// 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// From 0.
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// Your payments.
///
/// The caller's payments, newest first.
#[utoipa::path(
    get,
    path = "/api/payment",
    tag = "payments",
    params(ListQuery),
    responses((status = 200, description = "A page of payments", body = Paged<Payment>)),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    list_for(&state, &caller.user_id, query).await
}

/// One buyer's payments, newest first.
pub(super) async fn list_for(state: &AppState, user_id: &str, query: ListQuery) -> Result<Json<Value>, ApiError> {
    let statuses = query
        .status
        .as_deref()
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse::<PaymentStatus>().map_err(|e| ApiError::validation(e.to_string())))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?
        .unwrap_or_default();
    let Paging { limit, offset, .. } = Paging::by_offset(query.offset, query.limit, 50)?;
    let (payments, total) = state.store.payments_of_buyer(user_id, &statuses, limit, offset).await?;
    let registry = state.registry.current();
    let overrides = state.store.threshold_overrides().await?;
    Ok(Json(json!({
        "success": true,
        "data": payments.iter().map(|p| views::payment(&registry, &overrides, p)).collect::<Vec<_>>(),
        "pagination": { "limit": limit, "offset": offset, "total": total },
    })))
}
