//! `GET /api/admin/payments/awaiting-confirmation`: payments with money seen but not yet credited,
//! with their Transaction Safety state and the reason they wait.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Page;
use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::AppState;
use crate::views::payment::{AwaitingPayment, PaymentView};
use crate::views::{Paged, Pagination};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

/// Payments awaiting confirmation.
///
/// Payments with money seen and not yet credited, with why each waits and its Transaction
/// Safety state (`metadata.transactionSafety`).
#[utoipa::path(
    get,
    path = "/api/admin/payments/awaiting-confirmation",
    operation_id = "listAwaitingConfirmation",
    tag = "admin",
    params(Page),
    responses((status = 200, description = "A page of payments", body = Paged<AwaitingPayment>)),
    security(("bearer" = []))
)]
pub(in crate::routes) async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Json<Paged<AwaitingPayment>>, ApiError> {
    let paging = page.bounds(25)?;
    let (payments, total) = state.store.awaiting_confirmation(page.chain()?, paging.limit, paging.offset).await?;
    let registry = state.registry.current();
    let overrides = state.store.threshold_overrides().await?;
    let data: Vec<AwaitingPayment> = payments
        .iter()
        .map(|p| {
            let safety = p.safety.as_ref().and_then(|s| s["status"].as_str());
            let reason = match (safety, p.underpaid) {
                (Some("failed"), _) => "transaction safety failed",
                (Some("pending"), _) => "transaction safety could not be checked yet",
                (_, true) => "underpaid: waiting for a top-up",
                _ => "waiting for confirmations",
            };
            AwaitingPayment { payment: PaymentView::new(&registry, &overrides, p), awaiting_reason: reason }
        })
        .collect();
    Ok(Paged::of(data, Pagination::counted(paging, total)))
}
