//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use payscan_core::intent::AddressDeriver;
use payscan_core::registry::SharedRegistry;
use payscan_core::store::Store;
use payscan_core::tasks::TaskBoard;
use payscan_core::webhook::WebhookSecret;

use payscan_scanner::{Reloader, ScannerStatus, WatchSet};

use payscan_custody::{Keys, Payouts, PermitRelay, SweepCron, Sweeper};

use crate::auth::JwtVerifier;

/// The API's shared state.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The registry in force; `POST /api/admin/rn/networks/reload` replaces it.
    pub registry: SharedRegistry,
    /// Applies reloads made here or on another instance, in this instance's role.
    pub reloader: Arc<Reloader>,
    pub status: Arc<ScannerStatus>,
    pub watch: Arc<WatchSet>,
    pub deriver: Arc<dyn AddressDeriver>,
    pub keys: Arc<Keys>,
    pub sweeper: Arc<Sweeper>,
    pub sweep_cron: Arc<SweepCron>,
    pub payouts: Arc<Payouts>,
    pub permits: Arc<PermitRelay>,
    pub jwt: Arc<JwtVerifier>,
    pub webhook_secret: Arc<WebhookSecret>,
    pub metrics: prometheus::Registry,
    pub payment_ttl: Duration,
    /// The network and token of an intent that names neither.
    pub intent_defaults: payscan_core::config::IntentDefaults,
    /// Where payscan is reached and where a checkout sends the buyer afterwards.
    pub links: payscan_core::config::Links,
    /// The Request Network receiver when one is configured; else each payment's destination.
    pub rn_payee: Option<alloy::primitives::Address>,
    pub quotes: payscan_core::quote::QuoteSettings,
    /// The one fan-out of payment events to event streams.
    pub feed: Arc<crate::feed::Feed>,
    /// Per-caller budgets of intents and permit relays.
    pub limits: Arc<crate::limits::Limits>,
    /// Cancelled at shutdown: long-lived responses (event streams) end with it, so a graceful
    /// stop does not wait on clients.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Every background task of this instance and how it is doing, for health.
    pub tasks: TaskBoard,
}
