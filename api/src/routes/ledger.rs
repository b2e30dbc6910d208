//! `GET /transactions?userId=…`: a user's ledger entries (their own, or anyone's for an admin).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::paging::Paging;
use crate::schemas::LedgerEntry;
use crate::state::AppState;
use crate::views::{Paged, Pagination};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct LedgerQuery {
    /// The user; the caller when absent.
    #[param(pattern = "^[A-Za-z0-9_.:-]{1,128}$")]
    user_id: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// The ledger.
///
/// The append-only ledger: every movement of money of a user (the caller's own, or anyone's for
/// an admin), so balances are sums over it.
#[utoipa::path(
    get,
    path = "/transactions",
    operation_id = "listLedgerEntries",
    tag = "ledger",
    params(LedgerQuery),
    responses((status = 200, description = "A page of ledger entries", body = Paged<LedgerEntry>)),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<LedgerQuery>,
) -> Result<Json<Paged<LedgerEntry>>, ApiError> {
    let user = query.user_id.unwrap_or_else(|| caller.user_id.clone());
    super::check_id("userId", &user)?;
    if !caller.may_read(&user) {
        return Err(ApiError::forbidden("another user's transactions are for admins"));
    }
    let paging = Paging::by_page(query.page, query.limit, 50)?;
    let (entries, total) = state.store.ledger_of_user(&user, paging.limit, paging.offset).await?;
    Ok(Paged::of(entries.iter().map(LedgerEntry::from).collect(), Pagination::by_page(paging, total)))
}
