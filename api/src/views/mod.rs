//! The API's answers, as types: each serializes what a route answers and is the OpenAPI
//! document's schema of it at once. Base-unit amounts are decimal strings.

pub mod admin;
pub mod checkout;
pub mod configuration;
pub mod custody;
pub mod ledger;
pub mod options;
pub mod payment;
pub mod payout;
pub mod reports;

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::paging::Paging;

/// A successful answer: `{success: true, data}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    pub data: T,
}

impl<T> Envelope<T> {
    /// `data` as a successful answer.
    pub fn of(data: T) -> Json<Self> {
        Json(Self { success: true, data })
    }
}

/// A page of a list: `{success: true, data: [...], pagination}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Paged<T> {
    pub success: bool,
    pub data: Vec<T>,
    pub pagination: Pagination,
}

/// `page` and `offset` are alternatives: a route answers with the one it takes.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub limit: i64,
    pub total: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// Admin lists: how many pages `total` fills.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_pages: Option<i64>,
}

impl Pagination {
    /// The page `paging` asked for by number, of `total` rows.
    pub fn by_page(paging: Paging, total: i64) -> Self {
        Self { limit: paging.limit, total, page: Some(paging.page), offset: None, total_pages: None }
    }

    /// [`Pagination::by_page`] with the page count (admin lists).
    pub fn counted(paging: Paging, total: i64) -> Self {
        Self { total_pages: Some(paging.pages_of(total)), ..Self::by_page(paging, total) }
    }

    /// The page `paging` asked for by offset, of `total` rows.
    pub fn by_offset(paging: Paging, total: i64) -> Self {
        Self { limit: paging.limit, total, page: None, offset: Some(paging.offset), total_pages: None }
    }
}

impl<T> Paged<T> {
    /// `data`, one page of a list.
    pub fn of(data: Vec<T>, pagination: Pagination) -> Json<Self> {
        Json(Self { success: true, data, pagination })
    }
}
