//! Extractors whose rejections answer in the API's error shape.

use std::str::FromStr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use payscan_core::{ChainId, PaymentId, PayoutId};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// `Json<T>` whose rejection is a 4xx in the API's shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::new(ErrorCode::UnsupportedMediaType, "expected Content-Type: application/json")
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::PayloadTooLarge, "request body is too large")
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::new(ErrorCode::MalformedJson, e.body_text()),
        JsonRejection::JsonDataError(e) => ApiError::validation(e.body_text()),
        other => ApiError::validation(other.body_text()),
    }
}

/// `Query<T>` whose rejection is a 400 in the API's shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| ApiError::validation(e.body_text()))
    }
}

/// An id in the path, parsed into its type; one that does not parse is a 400 `VALIDATION_ERROR`
/// naming what was expected.
#[derive(Debug, Clone, Copy)]
pub struct ApiPath<T>(pub T);

/// A type a route takes from its path.
pub trait PathParam: FromStr {
    /// Why `text` is refused.
    fn refusal(text: &str) -> String;
}

impl PathParam for PaymentId {
    fn refusal(_: &str) -> String {
        "not a payment id (pay_…)".to_owned()
    }
}

impl PathParam for PayoutId {
    fn refusal(_: &str) -> String {
        "not a payout id (po_…)".to_owned()
    }
}

impl PathParam for ChainId {
    fn refusal(text: &str) -> String {
        format!("chainId must be a positive integer, got `{text}`")
    }
}

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: PathParam,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(text) =
            Path::<String>::from_request_parts(parts, state).await.map_err(|e| ApiError::validation(e.body_text()))?;
        text.parse().map(Self).map_err(|_| ApiError::validation(T::refusal(&text)))
    }
}
