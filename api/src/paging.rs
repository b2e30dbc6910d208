//! Every list's page bounds, checked once: `limit` 1 to [`MAX_LIMIT`], and either `page` from 1
//! or `offset` from 0, as each route of the seed names them.

use crate::error::ApiError;

/// The most rows one page answers.
pub const MAX_LIMIT: i64 = 200;

/// A checked page: `limit` rows from `offset`; `page` is its number when asked by page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub limit: i64,
    pub offset: i64,
    pub page: i64,
}

impl Paging {
    /// `page` (from 1, else 1) of `limit` rows (else `default_limit`).
    pub fn by_page(page: Option<i64>, limit: Option<i64>, default_limit: i64) -> Result<Self, ApiError> {
        let page = page.unwrap_or(1);
        if page < 1 {
            return Err(ApiError::validation("page starts at 1"));
        }
        let limit = checked_limit(limit, default_limit, MAX_LIMIT)?;
        Ok(Self { limit, offset: (page - 1).saturating_mul(limit), page })
    }

    /// `limit` rows (else `default_limit`) from `offset` (from 0, else 0).
    pub fn by_offset(offset: Option<i64>, limit: Option<i64>, default_limit: i64) -> Result<Self, ApiError> {
        let offset = offset.unwrap_or(0);
        if offset < 0 {
            return Err(ApiError::validation("offset must not be negative"));
        }
        let limit = checked_limit(limit, default_limit, MAX_LIMIT)?;
        Ok(Self { limit, offset, page: (offset / limit).saturating_add(1) })
    }

    /// How many pages `total` rows fill.
    pub fn pages_of(&self, total: i64) -> i64 {
        total.saturating_add(self.limit - 1) / self.limit
    }
}

/// `limit` (else `default_limit`) within 1 to `max`.
pub fn checked_limit(limit: Option<i64>, default_limit: i64, max: i64) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(default_limit);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::validation(format!("limit must be between 1 and {max}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked_the_same_way_by_page_and_by_offset() {
        assert_eq!(Paging::by_page(Some(3), Some(20), 50), Ok(Paging { limit: 20, offset: 40, page: 3 }));
        assert_eq!(Paging::by_page(None, None, 50), Ok(Paging { limit: 50, offset: 0, page: 1 }));
        assert_eq!(Paging::by_offset(Some(40), Some(20), 50), Ok(Paging { limit: 20, offset: 40, page: 3 }));
        assert_eq!(Paging::by_page(Some(i64::MAX), Some(200), 50).map(|p| p.offset), Ok(i64::MAX));
        assert_eq!(Paging::by_offset(Some(i64::MAX), Some(1), 50).map(|p| p.page), Ok(i64::MAX));
        for refused in [
            Paging::by_page(Some(0), None, 50),
            Paging::by_page(None, Some(0), 50),
            Paging::by_page(None, Some(201), 50),
            Paging::by_offset(Some(-1), None, 50),
            Paging::by_offset(None, Some(-5), 50),
        ] {
            assert_eq!(refused.map_err(|e| e.code), Err(crate::error::ErrorCode::ValidationError));
        }
        assert_eq!(Paging::by_page(None, Some(200), 50).map(|p| p.pages_of(401)), Ok(3));
    }
}
