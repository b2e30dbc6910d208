//! The one mapping from errors to HTTP: `{success:false, error:{code, message}}`. A 5xx logs its
//! cause and answers without it.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use payscan_core::change::ChangeError;
use payscan_core::intent::IntentError;
use payscan_core::store::StoreError;
use payscan_custody::{PayoutError, PermitError};
use serde::Serialize;
use utoipa::ToSchema;

mod code;

pub use code::ErrorCode;

/// An API error: its code (which decides the status) and a message for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds a client should wait before trying again (`Retry-After`).
    pub retry_after: Option<u64>,
}

/// Every error: `{success: false, error: {code, message}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after: None }
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    /// Tells the client to wait `secs` seconds before trying again (`Retry-After`).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 429 `RATE_LIMITED`: the caller may try again after `retry_after` seconds.
    pub fn rate_limited(message: impl Into<String>, retry_after: u64) -> Self {
        Self::new(ErrorCode::RateLimited, message).with_retry_after(retry_after)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// A failure of payscan itself; the cause is logged, never returned.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(target: "payscan::api", error = %cause, "request failed");
        Self::new(ErrorCode::InternalError, "internal error")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorBody { success: false, error: ErrorDetail { code: self.code, message: self.message } };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if let StoreError::Change(ChangeError::Transition(refused)) = &e {
            return Self::new(ErrorCode::InvalidState, refused.to_string());
        }
        if e.is_transient() {
            tracing::warn!(target: "payscan::api", error = %e, "database busy");
            Self::new(ErrorCode::DatabaseUnavailable, "the database is busy or unreachable; retry")
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
            e @ IntentError::InProgress(_) => Self::new(ErrorCode::PaymentInProgress, e.to_string()),
        }
    }
}

impl From<PayoutError> for ApiError {
    fn from(e: PayoutError) -> Self {
        let message = e.to_string();
        match e {
            PayoutError::Store(e) => e.into(),
            PayoutError::Invalid(_) => Self::validation(message),
            PayoutError::BelowMinimum { .. } => Self::new(ErrorCode::AmountBelowMinimum, message),
            PayoutError::Duplicate(_) => Self::new(ErrorCode::DuplicatePayout, message),
            PayoutError::NotFound(_) => Self::not_found(message),
            PayoutError::State(_) => Self::new(ErrorCode::InvalidState, message),
            PayoutError::WalletUnavailable(_) => Self::new(ErrorCode::RelayerUnavailable, message),
            PayoutError::ChainUnavailable(_) => Self::new(ErrorCode::ChainUnavailable, message),
            PayoutError::TxCheck(_) => Self::new(ErrorCode::TxCheckFailed, message),
        }
    }
}

impl From<PermitError> for ApiError {
    fn from(e: PermitError) -> Self {
        let message = e.to_string();
        match e {
            PermitError::Store(e) => e.into(),
            PermitError::Invalid(_) => Self::new(ErrorCode::PermitInvalid, message),
            PermitError::State(_) => Self::new(ErrorCode::InvalidState, message),
            PermitError::RelayerUnavailable(_) => Self::new(ErrorCode::RelayerUnavailable, message),
            PermitError::ChainUnavailable(_) => Self::new(ErrorCode::ChainUnavailable, message),
            PermitError::Failed(_) => Self::new(ErrorCode::PermitFailed, message),
            PermitError::AlreadyRelayed(_) => Self::new(ErrorCode::PermitAlreadyRelayed, message),
        }
    }
}
