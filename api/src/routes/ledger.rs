//! `GET /transactions?userId=…`: a user's ledger entries (their own, or anyone's for an admin).

use axum::extract::State;
use axum::Json;
use payscan_core::clock;
use payscan_core::store::ledger::Entry;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::paging::Paging;
use crate::schemas::{LedgerEntry, Paged};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct LedgerQuery {
    /// The user; the caller when absent.
    user_id: Option<String>,
    /// From 1.
    #[param(minimum = 1)]
    page: Option<i64>,
    /// 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

fn view(e: &Entry) -> Value {
    json!({
        "id": e.id,
        "kind": e.kind,
        "paymentId": e.payment_id,
        "payoutId": e.payout_id,
        "userId": e.user_id,
        "chainId": e.chain_id,
        "token": e.token.to_checksum(None),
        "account": e.account.to_checksum(None),
        "direction": e.direction,
        "amountBaseUnits": e.amount,
        "txHash": e.tx_hash.map(|h| format!("{h:#x}")),
        "logIndex": e.log_index,
        "createdAt": clock::rfc3339(e.created_at),
    })
}

/// The ledger.
///
/// The append-only ledger: every movement of money of a user (the caller's own, or anyone's for
/// an admin), so balances are sums over it.
#[utoipa::path(
    get,
    path = "/transactions",
    tag = "ledger",
    params(LedgerQuery),
    responses((status = 200, description = "A page of ledger entries", body = Paged<LedgerEntry>)),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<LedgerQuery>,
) -> Result<Json<Value>, ApiError> {
    let user = query.user_id.unwrap_or_else(|| caller.user_id.clone());
    super::check_id("userId", &user)?;
    if !caller.may_read(&user) {
        return Err(ApiError::forbidden("another user's transactions are for admins"));
    }
    let Paging { limit, offset, page } = Paging::by_page(query.page, query.limit, 50)?;
    let (entries, total) = state.store.ledger_of_user(&user, limit, offset).await?;
    Ok(Json(json!({
        "success": true,
        "data": entries.iter().map(view).collect::<Vec<_>>(),
        "pagination": { "page": page, "limit": limit, "total": total },
    })))
}
