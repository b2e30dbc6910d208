//! The one mapping from errors to HTTP: `{success:false, error:{code, message}}`. A 5xx logs its
//! cause and answers without it.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use payscan_core::intent::IntentError;
use payscan_core::store::StoreError;
use payscan_custody::{PayoutError, PermitError};
use serde_json::json;

/// An API error: status, stable code, message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds a client should wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    /// Tells the client to wait `secs` seconds before trying again (`Retry-After`).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 429 `RATE_LIMITED`: the caller may try again after `retry_after` seconds.
    pub fn rate_limited(message: impl Into<String>, retry_after: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", message).with_retry_after(retry_after)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// A failure of payscan itself; the cause is logged, never returned.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(target: "payscan::api", error = %cause, "request failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "internal error")
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "success": false, "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            tracing::warn!(target: "payscan::api", error = %e, "database busy");
            Self::unavailable("DATABASE_UNAVAILABLE", "the database is busy or unreachable; retry")
        } else {
            Self::internal(e)
        }
    }
}

impl From<IntentError> for ApiError {
    fn from(e: IntentError) -> Self {
        match e {
            IntentError::Store(e) => e.into(),
            IntentError::Derive(e) => Self::internal(e),
            e @ IntentError::InProgress(_) => Self::conflict("PAYMENT_IN_PROGRESS", e.to_string()),
        }
    }
}

impl From<PayoutError> for ApiError {
    fn from(e: PayoutError) -> Self {
        let message = e.to_string();
        match e {
            PayoutError::Store(e) => e.into(),
            PayoutError::Invalid(_) => Self::validation(message),
            PayoutError::BelowMinimum { .. } => Self::new(StatusCode::BAD_REQUEST, "AMOUNT_BELOW_MINIMUM", message),
            PayoutError::Duplicate(_) => Self::conflict("DUPLICATE_PAYOUT", message),
            PayoutError::NotFound(_) => Self::not_found(message),
            PayoutError::State(_) => Self::conflict("INVALID_STATE", message),
            PayoutError::WalletUnavailable(_) => Self::unavailable("RELAYER_UNAVAILABLE", message),
            PayoutError::ChainUnavailable(_) => Self::unavailable("CHAIN_UNAVAILABLE", message),
            PayoutError::TxCheck(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "TX_CHECK_FAILED", message),
        }
    }
}

impl From<PermitError> for ApiError {
    fn from(e: PermitError) -> Self {
        let message = e.to_string();
        match e {
            PermitError::Store(e) => e.into(),
            PermitError::Invalid(_) => Self::new(StatusCode::BAD_REQUEST, "PERMIT_INVALID", message),
            PermitError::State(_) => Self::conflict("INVALID_STATE", message),
            PermitError::RelayerUnavailable(_) => Self::unavailable("RELAYER_UNAVAILABLE", message),
            PermitError::ChainUnavailable(_) => Self::unavailable("CHAIN_UNAVAILABLE", message),
            PermitError::Failed(_) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "PERMIT_FAILED", message),
            PermitError::AlreadyRelayed(_) => Self::conflict("PERMIT_ALREADY_RELAYED", message),
        }
    }
}
