//! `GET /api/payment/export[/:userId]`: payments as JSON or CSV, streamed a page at a time.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use payscan_core::clock;
use payscan_core::store::Payment;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::reports::subject;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::schemas;
use crate::state::AppState;
use crate::views::payment::PaymentView;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export)).routes(routes!(export_of))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct ExportQuery {
    /// `json` (the default) or `csv`.
    #[param(pattern = "^(json|csv)$")]
    format: Option<String>,
}

const EXPORT_PAGE: i64 = 500;
const CSV_HEADER: &str = "paymentId,provider,status,escrowState,chainId,token,tokenAddress,amountBaseUnits,\
amountReceivedBaseUnits,destination,txHash,buyerId,sellerId,sellerOfferId,purchaseRequestId,createdAt,completedAt\n";

/// A CSV field, quoted when it holds a comma, quote or line break. A field a spreadsheet would
/// read as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage return: ids and user
/// ids come from buyers) is prefixed with `'`, so it stays text.
fn csv_field(text: &str) -> String {
    let text: std::borrow::Cow<'_, str> =
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}").into() } else { text.into() };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.into_owned()
    }
}

fn csv_line(p: &Payment) -> String {
    let fields = [
        p.id.to_string(),
        p.rail.provider.as_str().to_owned(),
        p.status.as_str().to_owned(),
        p.escrow.as_str().to_owned(),
        p.rail.chain_id.to_string(),
        p.rail.token.symbol.clone(),
        p.rail.token.address.to_checksum(None),
        p.rail.amount.to_string(),
        p.received.to_string(),
        p.destination.to_checksum(None),
        p.tx_hash.map(|h| format!("{h:#x}")).unwrap_or_default(),
        p.buyer_id.clone(),
        p.seller_id.clone(),
        p.seller_offer_id.clone(),
        p.purchase_request_id.clone(),
        clock::rfc3339(p.created_at),
        p.completed_at.map(clock::rfc3339).unwrap_or_default(),
    ];
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push('\n');
    line
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
}

impl Format {
    fn of(query: &ExportQuery) -> Result<Self, ApiError> {
        match query.format.as_deref().unwrap_or("json") {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            other => Err(ApiError::validation(format!("format must be json or csv, got `{other}`"))),
        }
    }
}

/// Export payments.
///
/// The caller's payments (everyone's for an admin) as an attachment, streamed a page at a time
/// so an export of any size holds one page in memory.
#[utoipa::path(
    get,
    path = "/api/payment/export",
    operation_id = "exportPayments",
    tag = "payments",
    params(ExportQuery),
    responses(
        (status = 200, description = "Payments as a JSON array (`format=json`) or CSV (`format=csv`)", content(
            (Vec<schemas::Payment> = "application/json"),
            (String = "text/csv"),
        )),
    ),
    security(("bearer" = []))
)]
pub(super) async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = Format::of(&query)?;
    export_for(state, subject(&caller, None)?, format).await
}

/// Export a user's payments.
#[utoipa::path(
    get,
    path = "/api/payment/export/{userId}",
    operation_id = "exportUserPayments",
    tag = "payments",
    params(("userId" = String, Path, pattern = "^[A-Za-z0-9_.:-]{1,128}$", description = "The user (self, or anyone for an admin)"), ExportQuery),
    responses(
        (status = 200, description = "The user's payments as a JSON array (`format=json`) or CSV (`format=csv`)", content(
            (Vec<schemas::Payment> = "application/json"),
            (String = "text/csv"),
        )),
    ),
    security(("bearer" = []))
)]
pub(super) async fn export_of(
    State(state): State<AppState>,
    caller: Caller,
    Path(user_id): Path<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = Format::of(&query)?;
    export_for(state, subject(&caller, Some(user_id))?, format).await
}

async fn export_for(state: AppState, user: Option<String>, format: Format) -> Result<Response, ApiError> {
    let registry = state.registry.current();
    let overrides = state.store.threshold_overrides().await?;
    struct Cursor {
        after: Option<(i64, String)>,
        first: bool,
        /// A JSON item was written: the next one needs a comma.
        wrote: bool,
        done: bool,
    }
    let store = state.store.clone();
    let start = Cursor { after: None, first: true, wrote: false, done: false };
    let body = stream::unfold(start, move |mut cursor| {
        let (store, user, registry, overrides) = (store.clone(), user.clone(), registry.clone(), overrides.clone());
        async move {
            if cursor.done {
                return None;
            }
            let mut chunk = String::new();
            if cursor.first {
                chunk.push_str(if format == Format::Csv { CSV_HEADER } else { "[" });
            }
            let after = cursor.after.as_ref().map(|(t, id)| (*t, id.as_str()));
            let page = match store.payments_after(user.as_deref(), after, EXPORT_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    // Headers are gone already: end the body short; the client sees it truncated.
                    tracing::error!(target: "payscan::api", error = %e, "export stopped");
                    return None;
                }
            };
            for p in &page {
                match format {
                    Format::Csv => chunk.push_str(&csv_line(p)),
                    Format::Json => {
                        if cursor.wrote {
                            chunk.push(',');
                        }
                        match serde_json::to_string(&PaymentView::new(&registry, &overrides, p)) {
                            Ok(text) => chunk.push_str(&text),
                            Err(e) => {
                                tracing::error!(target: "payscan::api", error = %e, "export stopped");
                                return None;
                            }
                        }
                        cursor.wrote = true;
                    }
                }
            }
            if (page.len() as i64) < EXPORT_PAGE {
                cursor.done = true;
                if format == Format::Json {
                    chunk.push(']');
                }
            }
            cursor.after = page.last().map(|p| (p.created_at, p.id.to_string()));
            cursor.first = false;
            Some((Ok::<_, Infallible>(Bytes::from(chunk)), cursor))
        }
    });
    let (content_type, extension) = match format {
        Format::Json => ("application/json", "json"),
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
    };
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"payments.{extension}\"")),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn formula_cells_stay_text() {
        assert_eq!(csv_field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-2+3"), "'-2+3");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("buyer-1"), "buyer-1");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
