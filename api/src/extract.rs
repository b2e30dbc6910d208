//! Extractors whose rejections answer in the API's error shape.

use std::str::FromStr;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use payscan_core::{ChainId, PaymentId, PayoutId};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::error::{ApiError, ErrorCode};

/// `Json<T>` whose rejection is a 4xx in the API's shape. Every body is a JSON object: serde
/// would otherwise read an array into a struct's fields by position.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let raw = match axum::Json::<Box<RawValue>>::from_request(req, state).await {
            Ok(axum::Json(raw)) => raw,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        require_object(raw.get().as_bytes())?;
        axum::Json::<T>::from_bytes(raw.get().as_bytes()).map(|axum::Json(value)| Self(value)).map_err(json_rejection)
    }
}

/// Refuses a JSON body that is not an object.
pub(crate) fn require_object(json: &[u8]) -> Result<(), ApiError> {
    if json.trim_ascii_start().starts_with(b"{") {
        Ok(())
    } else {
        Err(ApiError::validation("the body must be a JSON object"))
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

/// A JSON integer for a body field. JSON Schema's `integer` counts `7.0` as 7, and so does
/// payscan; a fraction, a negative or an out-of-range value is refused.
pub(crate) fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    in_range(&number).ok_or_else(|| D::Error::custom(format!("expected a non-negative integer in range, got {number}")))
}

/// [`whole`] for an optional field, `null` being absent.
pub(crate) fn whole_or_null<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    match Option::<serde_json::Number>::deserialize(deserializer)? {
        None => Ok(None),
        Some(number) => in_range(&number)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a non-negative integer in range, got {number}"))),
    }
}

fn in_range<T: TryFrom<u64>>(number: &serde_json::Number) -> Option<T> {
    whole_number(number).and_then(|n| T::try_from(n).ok())
}

/// A JSON number's value when it is a whole number from 0 to `u64::MAX` (`7`, `7.0`, `7e2`),
/// read from its text rather than through a float.
pub(crate) fn whole_number(number: &serde_json::Number) -> Option<u64> {
    if let Some(n) = number.as_u64() {
        return Some(n);
    }
    // serde_json writes a float as its shortest text: `7.0`, `700.0`, `1e30`.
    let text = number.to_string();
    let (int_part, frac_part) = text.split_once('.')?;
    if frac_part.bytes().all(|b| b == b'0') && int_part.bytes().all(|b| b.is_ascii_digit()) {
        int_part.parse().ok()
    } else {
        None
    }
}
