//! Every error code payscan answers, one per condition, each with its one HTTP status.

use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

/// A stable, machine-readable error code (`error.code` of every error answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// 400: a field, query parameter or path id is missing, malformed or out of range.
    ValidationError,
    /// 400: the body is not JSON.
    MalformedJson,
    /// 415: the body is not sent as `application/json`.
    UnsupportedMediaType,
    /// 413: the body is larger than payscan reads.
    PayloadTooLarge,
    /// 405: the route exists but not with this method.
    MethodNotAllowed,
    /// 401: no bearer token, or one that does not verify.
    Unauthorized,
    /// 403: the caller may not do this (another buyer's payment, an admin route).
    Forbidden,
    /// 404: no such resource or route.
    NotFound,
    /// 429: too many requests; `Retry-After` says when to try again.
    RateLimited,
    /// 503: too many event streams are open.
    TooManyStreams,
    /// 503: the database is busy or unreachable.
    DatabaseUnavailable,
    /// 500: a failure of payscan itself, logged on its side.
    InternalError,
    /// 409: the purchase's payment has money on it and cannot be re-pointed.
    PaymentInProgress,
    /// 400: the amount is below the payout minimum.
    AmountBelowMinimum,
    /// 409: a payout with this idempotency key, or this escrow's settlement, exists already.
    DuplicatePayout,
    /// 409: the resource is not in a state that allows this.
    InvalidState,
    /// 503: the hot wallet or relayer cannot sign or pay for gas right now.
    RelayerUnavailable,
    /// 503: the chain's RPC is failing or did not answer.
    ChainUnavailable,
    /// 409: the payment's chain or rail can no longer be paid.
    ChainUnsupported,
    /// 409: the chain is not halted by a reorg, so there is nothing to unwind.
    ChainNotHalted,
    /// 422: a transaction hash given by hand does not match the payout.
    TxCheckFailed,
    /// 400: the permit is malformed, expired, for another spender or not signed by its owner.
    PermitInvalid,
    /// 422: the chain refused the permit.
    PermitFailed,
    /// 409: another permit of this payment is in flight or mined.
    PermitAlreadyRelayed,
    /// 422: a release without `to`, and no payout address is set for the seller.
    PayoutAddressMissing,
    /// 422: a refund without `to`, and no counted transfer names the address that paid.
    RefundAddressUnknown,
    /// 400: the network registry does not parse or does not check.
    RegistryInvalid,
    /// 503: the price feed cannot give a fresh quote.
    OracleUnavailable,
    /// 422: the token is further from its peg than allowed.
    DepegLimitExceeded,
    /// 400: the token on this chain is not among the rails the seller accepts.
    RailNotAllowed,
}

impl ErrorCode {
    /// The HTTP status every answer with this code has.
    pub const fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            ValidationError | MalformedJson | AmountBelowMinimum | PermitInvalid | RegistryInvalid | RailNotAllowed => {
                StatusCode::BAD_REQUEST
            }
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            PaymentInProgress | DuplicatePayout | InvalidState | ChainUnsupported | ChainNotHalted
            | PermitAlreadyRelayed => StatusCode::CONFLICT,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TxCheckFailed | PermitFailed | PayoutAddressMissing | RefundAddressUnknown | DepegLimitExceeded => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            TooManyStreams | DatabaseUnavailable | RelayerUnavailable | ChainUnavailable | OracleUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}
