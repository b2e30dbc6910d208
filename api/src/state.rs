//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use payscan_core::intent::AddressDeriver;
use payscan_core::registry::Registry;
use payscan_core::store::Store;
use payscan_core::webhook::WebhookSecret;

use crate::auth::JwtVerifier;

/// The API's shared state.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub registry: Arc<Registry>,
    pub deriver: Arc<dyn AddressDeriver>,
    pub jwt: Arc<JwtVerifier>,
    pub webhook_secret: Arc<WebhookSecret>,
    pub metrics: prometheus::Registry,
    pub payment_ttl: Duration,
}
