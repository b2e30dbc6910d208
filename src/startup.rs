//! Builds the daemon from its configuration: store, registry, keys, followers, the outbox's
//! dispatcher and the HTTP server. `Application::build` binds the listener first, so tests can
//! start it on port 0.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use payscan_api::auth::JwtVerifier;
use payscan_api::routes::RECEIVER_PATH;
use payscan_api::AppState;
use payscan_core::config::Config;
use payscan_core::registry::{RegistrySource, SharedRegistry};
use payscan_core::store::{Backend, Store};
use payscan_core::webhook::SELF_TARGET;
use payscan_custody::{Keys, OutboundSettings, PayoutSettings, Payouts, PermitRelay, SweepCron, Sweeper};
use payscan_outbox::{Dispatcher, OutboxMetrics};
use payscan_scanner::{FollowerContext, Lease, Reloader, ScannerMetrics, ScannerStatus, Supervisor, WatchSet};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tracing::info;

use crate::tasks::Tasks;

/// A running payscan.
pub struct Application {
    address: SocketAddr,
    store: Store,
    tasks: Tasks,
    supervisor: Arc<Supervisor>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Application {
    /// Connects, migrates, binds and starts every background task.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        crate::telemetry::install_tls_provider();
        let registry_source = RegistrySource {
            chains: config.chains_path.clone(),
            tokens: config.tokens_path.clone(),
            rpc_overrides: config.rpc_overrides.clone(),
        };
        let registry = registry_source.load().context("registry")?;
        let keys = Arc::new(Keys::from_config(&config.keys, &config.custody)?);
        let store = Store::connect(config.database_url.expose_secret()).await.context("DATABASE_URL")?;

        let listener =
            TcpListener::bind(config.listen).await.with_context(|| format!("PAYSCAN_LISTEN {}", config.listen))?;
        let address = listener.local_addr()?;
        let mut targets = Vec::new();
        let self_url = config.webhook.self_target.then(|| {
            targets.push(SELF_TARGET.to_owned());
            let host = if address.ip().is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { address.ip() };
            format!("http://{}{RECEIVER_PATH}", SocketAddr::new(host, address.port()))
        });
        targets.extend(config.webhook.targets.iter().cloned());
        let store = store.with_webhook_targets(targets);

        let metrics = prometheus::Registry::new_custom(Some("".into()), None).unwrap_or_default();
        let scanner_metrics = ScannerMetrics::register(&metrics)?;
        let outbox_metrics = OutboxMetrics::register(&metrics)?;
        let watch = Arc::new(WatchSet::with_window(config.watch_window));
        watch.refresh(&store).await?;

        let mut tasks = Tasks::new();
        let status = Arc::new(ScannerStatus::new());
        let context = FollowerContext {
            store: store.clone(),
            watch: watch.clone(),
            metrics: scanner_metrics.clone(),
            status: status.clone(),
            settings: config.scanner.clone(),
        };
        let role = config.role;
        let mut supervisor = Supervisor::new(context, tasks.token(), tasks.board());
        // Instances sharing a PostgreSQL split the chains by lease; SQLite is one instance's.
        let leased = store.backend() == Backend::Postgres;
        let mut lease_holder = None;
        if leased {
            let holder = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
            info!(%holder, "chains are leased: this instance follows the ones it holds");
            lease_holder = Some(holder.clone());
            supervisor = supervisor.with_lease(Lease { holder, ttl: config.lease_ttl });
        }
        let supervisor = Arc::new(supervisor);
        let registry = SharedRegistry::new(registry);
        let idle_poll = config.scanner.poll_interval.min(Duration::from_secs(1));
        if role.scans() {
            supervisor.reconcile(&registry.current()).await?;
            if leased {
                tasks.spawn("chain-leases", supervisor.clone().keep_leases(registry.clone(), tasks.token()));
            }
            let mut dispatcher = Dispatcher::new(store.clone(), &config.webhook, outbox_metrics)?;
            if let Some(url) = self_url {
                dispatcher = dispatcher.with_self_url(url);
            }
            let cancel = tasks.token();
            tasks.spawn("webhook-dispatcher", async move {
                dispatcher.run(cancel, idle_poll).await;
                Ok::<_, std::convert::Infallible>(())
            });
        }

        if role.scans() {
            let expiry =
                crate::tasks::expire_payments(store.clone(), supervisor.clone(), config.expiry_interval, tasks.token());
            tasks.spawn("payment-expiry", expiry);
        }

        let outbound = OutboundSettings {
            rpc_timeout: config.scanner.rpc_timeout,
            max_fee_cap: config.custody.max_fee_per_gas,
            replace_after: config.custody.replace_after,
            ..OutboundSettings::default()
        };
        let sweeper = Arc::new(Sweeper::new(
            store.clone(),
            keys.clone(),
            registry.clone(),
            outbound,
            config.custody.sweep_max_gas_cost,
        ));
        // The cron's on/off state is shared through the database; the leaseholders of chains
        // sweep those chains' destinations.
        let sweep_cron = Arc::new(SweepCron::new(store.clone(), config.custody.sweep_interval, lease_holder));
        sweep_cron.seed(config.custody.sweep_cron).await?;
        let payouts = Arc::new(Payouts::new(
            store.clone(),
            keys.clone(),
            registry.clone(),
            outbound,
            PayoutSettings {
                retry: config.custody.payout_retry.clone(),
                minimums: config.custody.payout_minimums.clone(),
                wait: Duration::from_secs(15),
            },
        ));
        if role.scans() {
            tasks.spawn("payout-worker", payouts.clone().run_worker(idle_poll, tasks.token()));
        }
        let permits = Arc::new(PermitRelay::new(store.clone(), keys.clone(), registry.clone(), outbound));
        if role.scans() {
            tasks.spawn("sweep-cron", sweep_cron.clone().run(sweeper.clone(), tasks.token()));
        }
        let feed = Arc::new(payscan_api::feed::Feed::new(store.clone(), config.sse_max_streams, &metrics)?);
        if role.serves_api() {
            tasks.spawn("sse-feed", feed.clone().run(tasks.token()));
        }
        #[cfg(debug_assertions)]
        crate::panic_drill::spawn_if_asked(&mut tasks, &config, keys.clone(), registry.clone());
        // API instances follow no chain: a reload there only changes what they serve.
        let reloader = Arc::new(
            Reloader::new(registry_source, registry.clone(), store.clone(), role.scans().then(|| supervisor.clone()))
                .await?,
        );
        tasks.spawn("registry-reload", reloader.clone().run(idle_poll, tasks.token()));
        let state = AppState {
            store: store.clone(),
            registry,
            sweeper,
            sweep_cron,
            payouts,
            permits,
            reloader,
            status,
            watch,
            deriver: Arc::new(keys.deriver().clone()),
            keys,
            jwt: Arc::new(JwtVerifier::new(config.jwt_secret.expose_secret().as_bytes())),
            webhook_secret: Arc::new(config.webhook.secret.clone()),
            metrics,
            payment_ttl: config.payment_ttl,
            intent_defaults: config.intent_defaults.clone(),
            links: config.links.clone(),
            rn_payee: config.rn_payee,
            quotes: config.quotes,
            feed,
            limits: Arc::new(payscan_api::limits::Limits::new(config.rate_limits)),
            shutdown: tasks.token(),
            tasks: tasks.board(),
        };
        let router = if role.serves_api() { payscan_api::router(state) } else { payscan_api::ops_router(state) };
        let shutdown = tasks.token();
        let server = tokio::spawn(async move {
            axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await
        });
        info!(%address, role = ?role, "payscan listening");
        Ok(Self { address, store, tasks, supervisor, server })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        shutdown_signal().await;
        info!("shutting down");
        self.stop().await
    }

    /// Stops the server and every task, letting in-flight work finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.tasks.shutdown().await;
        self.supervisor.shutdown().await;
        self.server.await??;
        self.store.close().await;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    /// Every metric the shipped Grafana dashboard queries is one payscan registers.
    #[test]
    fn the_grafana_dashboard_uses_real_metrics() {
        let dashboard = include_str!("../ops/grafana/payscan.json");
        let sources = [
            include_str!("../scanner/src/metrics.rs"),
            include_str!("../outbox/src/metrics.rs"),
            include_str!("../api/src/feed.rs"),
        ];
        let mut names: Vec<&str> = dashboard
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("payscan_"))
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() >= 10, "{names:?}");
        for name in names {
            assert!(
                sources.iter().any(|source| source.contains(&format!("\"{name}\""))),
                "the dashboard queries {name}, which payscan does not register"
            );
        }
    }
}
