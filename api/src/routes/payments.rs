//! `GET /api/payment/:id` and `GET /api/payment`.

use axum::extract::State;
use axum::Json;
use payscan_core::event::CreditedTransfer;
use payscan_core::{PaymentId, PaymentStatus};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery};
use crate::paging::Paging;
use crate::schemas::Payment;
use crate::state::AppState;
use crate::views::payment::{PaymentDetail, PaymentView};
use crate::views::payout::DeliveryView;
use crate::views::{Envelope, Paged, Pagination};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get))
}

/// A payment.
///
/// The payment, its transfers, and (admins) every webhook delivery of its events.
#[utoipa::path(
    get,
    path = "/api/payment/{id}",
    operation_id = "getPayment",
    tag = "payments",
    params(("id" = PaymentId, Path, description = "The payment id (`pay_…`)")),
    responses((status = 200, description = "The payment", body = Envelope<PaymentDetail>)),
    security(("bearer" = []))
)]
pub(super) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PaymentId>,
) -> Result<Json<Envelope<PaymentDetail>>, ApiError> {
    let payment = super::readable_payment(&state, &caller, &id).await?;
    let overrides = state.store.threshold_overrides().await?;
    let transfers = state.store.credits_of(&payment.id).await?.iter().map(CreditedTransfer::from).collect();
    let webhooks = if caller.is_admin() {
        Some(state.store.deliveries_of(&payment.id).await?.iter().map(DeliveryView::from).collect())
    } else {
        None
    };
    let payment = PaymentView::new(&state.registry.current(), &overrides, &payment);
    Ok(Envelope::of(PaymentDetail { payment, transfers, webhooks }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Comma-separated statuses (`pending,processing`); `success` stands for every successful
    /// terminal status (confirmed, completed, released, refunded). `completed,success` when
    /// absent, as the seed's backend answers; empty for every status.
    #[param(
        pattern = "^ *(pending|processing|confirmed|completed|failed|cancelled|released|refunded|success)? *(, *(pending|processing|confirmed|completed|failed|cancelled|released|refunded|success)? *)*$"
    )]
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
    operation_id = "listPayments",
    tag = "payments",
    params(ListQuery),
    responses((status = 200, description = "A page of payments", body = Paged<Payment>)),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Paged<PaymentView>>, ApiError> {
    list_for(&state, &caller.user_id, query).await
}

/// What a list shows when no `status` is asked for: the seed's default.
const DEFAULT_STATUSES: &str = "completed,success";

/// A `status` list: the statuses it names, `success` standing for every successful terminal one;
/// none for every status.
fn statuses(list: &str) -> Result<Vec<PaymentStatus>, ApiError> {
    let mut statuses = Vec::new();
    // Spaces only around a status, as the document's pattern states.
    for name in list.split(',').map(|s| s.trim_matches(' ')).filter(|s| !s.is_empty()) {
        let named: Vec<PaymentStatus> = match name {
            "success" => PaymentStatus::SUCCESSFUL.to_vec(),
            other => vec![other.parse::<PaymentStatus>().map_err(|e| ApiError::validation(e.to_string()))?],
        };
        for status in named {
            if !statuses.contains(&status) {
                statuses.push(status);
            }
        }
    }
    Ok(statuses)
}

/// One buyer's payments, newest first.
pub(super) async fn list_for(
    state: &AppState,
    user_id: &str,
    query: ListQuery,
) -> Result<Json<Paged<PaymentView>>, ApiError> {
    let statuses = statuses(query.status.as_deref().unwrap_or(DEFAULT_STATUSES))?;
    let paging = Paging::by_offset(query.offset, query.limit, 50)?;
    let (payments, total) = state.store.payments_of_buyer(user_id, &statuses, paging.limit, paging.offset).await?;
    let registry = state.registry.current();
    let overrides = state.store.threshold_overrides().await?;
    let data = payments.iter().map(|p| PaymentView::new(&registry, &overrides, p)).collect();
    Ok(Paged::of(data, Pagination::by_offset(paging, total)))
}
