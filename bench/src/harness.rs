//! What every benchmark stands on: a fresh database, an anvil chain with payscan's test tokens,
//! payscan itself on 127.0.0.1:0, and a webhook receiver that notes when each event arrives.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use payscan::devchain::{self, Anvil, AnvilOptions};
use payscan::Application;
use payscan_core::config::Config;
use payscan_core::webhook::WebhookSecret;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

/// The mnemonic payscan derives destinations from here (a public test phrase).
pub const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
pub const JWT_SECRET: &str = "payscan-bench-jwt-secret-of-32-bytes!";
pub const THRESHOLD: u64 = 3;

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> anyhow::Result<Self> {
        let path = std::env::temp_dir().join(format!("payscan-bench-{what}-{}-{}", std::process::id(), unique()));
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    (u64::from(nanos) << 16) | NEXT.fetch_add(1, Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const BOTH: [Self; 2] = [Self::Sqlite, Self::Postgres];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

/// A database of its own: a SQLite file, or a new PostgreSQL database dropped afterwards.
pub struct Database {
    pub url: String,
    pg: Option<(String, String)>,
    _dir: TempDir,
}

fn postgres_admin_url() -> String {
    std::env::var("PAYSCAN_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl Database {
    pub async fn fresh(backend: Backend) -> anyhow::Result<Self> {
        let dir = TempDir::new("db")?;
        Ok(match backend {
            Backend::Sqlite => {
                Self { url: format!("sqlite://{}", dir.0.join("payscan.db").display()), pg: None, _dir: dir }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("payscan_bench_{}", unique());
                let mut conn = sqlx::PgConnection::connect(&admin).await.context("PostgreSQL")?;
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await?;
                let base = admin.rsplit_once('/').map(|(base, _)| base.to_owned()).unwrap_or(admin.clone());
                Self { url: format!("{base}/{name}"), pg: Some((admin, name)), _dir: dir }
            }
        })
    }

    pub async fn drop_database(mut self) -> anyhow::Result<()> {
        if let Some((admin, name)) = self.pg.take() {
            let mut conn = sqlx::PgConnection::connect(&admin).await?;
            conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await?;
        }
        Ok(())
    }
}

/// An anvil chain with USDC (EIP-2612), USDT (plain) and Request Network's fee proxy.
pub struct Chain {
    pub anvil: Anvil,
    pub usdc: Address,
    pub usdt: Address,
    pub proxy: Address,
    pub accounts: Vec<Address>,
}

impl Chain {
    pub async fn start(options: AnvilOptions) -> anyhow::Result<Self> {
        let anvil = Anvil::spawn(options).await?;
        let accounts = anvil.accounts().await?;
        let deployer = accounts[0];
        let provider = anvil.provider();
        let usdc = devchain::deploy_token(provider, deployer, "TestToken", "USD Coin", "USDC", 6).await?;
        let usdt = devchain::deploy_token(provider, deployer, "PlainToken", "Tether USD", "USDT", 18).await?;
        let proxy = devchain::deploy(provider, deployer, "ERC20FeeProxy", &[]).await?;
        Ok(Self { anvil, usdc, usdt, proxy, accounts })
    }

    /// chains.json and tokens.json for this chain, written to `dir`.
    pub fn registry(&self, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        self.registry_with(dir, false)
    }

    /// The same, with anvil's WebSocket as the chain's `wsUrl` when `ws` is set.
    pub fn registry_with(&self, dir: &Path, ws: bool) -> anyhow::Result<(PathBuf, PathBuf)> {
        let mut chains = json!([{
            "chainId": self.anvil.chain_id, "name": "Bench chain", "shortName": "BENCH",
            "rpcUrl": self.anvil.url, "nativeCurrency": { "name": "Ether", "symbol": "ETH", "decimals": 18 },
            "proxyAddress": self.proxy.to_checksum(None),
            "confirmationThreshold": THRESHOLD, "confirmationFloor": 1
        }]);
        if ws {
            chains[0]["wsUrl"] = json!(self.anvil.url.replacen("http://", "ws://", 1));
        }
        let tokens = json!({ self.anvil.chain_id.to_string(): [
            { "address": self.usdc.to_checksum(None), "symbol": "USDC", "decimals": 6, "name": "USD Coin",
              "permit": { "name": "USD Coin", "version": "1" } },
            { "address": self.usdt.to_checksum(None), "symbol": "USDT", "decimals": 18, "name": "Tether USD" }
        ]});
        let (chains_path, tokens_path) = (dir.join("chains.json"), dir.join("tokens.json"));
        std::fs::write(&chains_path, serde_json::to_vec_pretty(&chains)?)?;
        std::fs::write(&tokens_path, serde_json::to_vec_pretty(&tokens)?)?;
        Ok((chains_path, tokens_path))
    }
}

/// The settings of a payscan under benchmark.
pub fn settings(
    database_url: &str,
    registry: &(PathBuf, PathBuf),
    targets: &[String],
    webhook_secret: &str,
) -> HashMap<String, String> {
    [
        ("DATABASE_URL", database_url.to_owned()),
        ("PAYSCAN_LISTEN", "127.0.0.1:0".to_owned()),
        ("PAYSCAN_CHAINS", registry.0.display().to_string()),
        ("PAYSCAN_TOKENS", registry.1.display().to_string()),
        ("PAYSCAN_MNEMONIC", MNEMONIC.to_owned()),
        ("PAYSCAN_JWT_SECRET", JWT_SECRET.to_owned()),
        ("PAYSCAN_WEBHOOK_SECRET", webhook_secret.to_owned()),
        ("PAYSCAN_WEBHOOK_TARGETS", targets.join(",")),
        // The benchmarks' receivers listen on 127.0.0.1.
        ("PAYSCAN_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8".to_owned()),
        ("PAYSCAN_SELF_WEBHOOK", "false".to_owned()),
        ("PAYSCAN_WEBHOOK_RETRY", "200ms,400ms,800ms".to_owned()),
        // One benchmark buyer creates thousands of intents: throughput, not the per-buyer limit.
        ("PAYSCAN_RATE_LIMIT_INTENTS", "off".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// payscan in this process.
pub struct Payscan {
    pub app: Application,
    pub url: String,
    pub http: reqwest::Client,
}

impl Payscan {
    pub async fn start(env: &HashMap<String, String>) -> anyhow::Result<Self> {
        let config = Config::from_sources(env, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let app = Application::build(config).await?;
        let url = format!("http://{}", app.address());
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
        Ok(Self { app, url, http })
    }

    pub fn token(sub: &str, role: &str) -> anyhow::Result<String> {
        payscan::dev::token(JWT_SECRET, sub, role, Duration::from_secs(3600))
    }

    /// A buyer's intent; returns its payment.
    pub async fn intent(&self, token: &str, offer: &str, amount: &str, token_symbol: &str) -> anyhow::Result<Value> {
        let body = json!({
            "purchaseRequestId": format!("pr-{offer}"), "sellerOfferId": offer, "sellerId": "seller-1",
            "amount": amount, "token": token_symbol, "network": "BENCH",
        });
        let response = self
            .http
            .post(format!("{}/api/payment/request-network/intents", self.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "intent answered {status}: {answer}");
        Ok(answer["data"].clone())
    }
}

/// How the benchmark receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverMode {
    /// 200 at once.
    Ok,
    /// 200 after 20 ms.
    Slow,
    /// HTTP 500 for one delivery in twenty, else 200.
    Flaky,
    /// Never answers: each delivery waits out the dispatcher's timeout.
    Hang,
}

/// One accepted delivery.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    pub body: Value,
}

#[derive(Clone)]
struct ReceiverState {
    mode: ReceiverMode,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    seen: Arc<std::sync::atomic::AtomicU64>,
}

/// A webhook receiver on 127.0.0.1 that records each accepted delivery with its arrival time.
/// It does not verify signatures: the end-to-end tests do, and here it must cost nothing.
pub struct Receiver {
    pub url: String,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(mode: ReceiverMode) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState { mode, arrivals: arrivals.clone(), seen: Arc::default() };
        let router = axum::Router::new().route("/hook", post(receive)).with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { url, arrivals, server })
    }

    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().map(|a| a.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.arrivals.lock().map(|a| a.len()).unwrap_or_default()
    }

    /// When the event `event_type` of payment `id` arrived, waiting up to `timeout`.
    pub async fn wait_for(&self, id: &str, event_type: &str, timeout: Duration) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.arrivals.lock().ok().and_then(|a| {
                a.iter().find(|x| x.body["intentId"] == id && x.body["type"] == event_type).map(|x| x.at)
            });
            if let Some(at) = found {
                return Ok(at);
            }
            anyhow::ensure!(Instant::now() < deadline, "{event_type} of {id} did not arrive");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(state): State<ReceiverState>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let n = state.seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    match state.mode {
        ReceiverMode::Ok => {}
        ReceiverMode::Slow => tokio::time::sleep(Duration::from_millis(20)).await,
        ReceiverMode::Flaky if n % 20 == 19 => return StatusCode::INTERNAL_SERVER_ERROR,
        ReceiverMode::Flaky => {}
        ReceiverMode::Hang => std::future::pending::<()>().await,
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut arrivals) = state.arrivals.lock() {
        arrivals.push(Arrival { at, body });
    }
    StatusCode::OK
}

pub fn webhook_secret() -> String {
    WebhookSecret::generate()
}

/// The `p`-th percentile (0–100) of `values`, by nearest rank.
pub fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

pub fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
