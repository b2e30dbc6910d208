//! What `POST /api/payment/configuration` answers: the seed's provider configuration.

use serde::Serialize;
use utoipa::ToSchema;

use crate::schemas;

/// The rails payscan accepts, where a checkout sends the buyer afterwards, and where payscan's
/// own webhooks are received; in the seed's shape, unwrapped.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentConfiguration {
    pub accept: Vec<AcceptedRail>,
    pub redirect: Redirects,
    /// payscan's own webhook receiver: absolute with `PAYSCAN_PUBLIC_URL`, else its path.
    pub webhook: String,
}

/// One chain and token a buyer may pay with.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedRail {
    /// The chain's short name.
    pub blockchain: String,
    /// The token's address.
    #[schema(value_type = schemas::Address)]
    pub token: String,
    /// The receiving address when the rail has one fixed (the configured Request Network
    /// payee on a chain with a fee proxy); null where each payment gets its own address.
    #[schema(value_type = Option<schemas::Address>)]
    pub receiver: Option<String>,
}

/// `PAYSCAN_REDIRECT_SUCCESS` and `PAYSCAN_REDIRECT_CANCEL`; null when unset.
#[derive(Debug, Serialize, ToSchema)]
pub struct Redirects {
    pub success: Option<String>,
    pub cancel: Option<String>,
}
