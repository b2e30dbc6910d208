//! What every end-to-end test uses: a fresh database (SQLite file or a new PostgreSQL database), a
//! fresh anvil chain with payscan's test tokens, payscan itself on 127.0.0.1:0, and a webhook
//! receiver that verifies signatures with the independent `standardwebhooks` crate.

#![allow(dead_code)]

mod daemon;
pub mod event;
pub mod leaks;
pub mod proxy;
pub mod receiver;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use payscan::devchain::{self, Anvil, AnvilOptions};
use payscan::Application;
use payscan_core::config::Config;
use payscan_core::webhook::WebhookSecret;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

pub use daemon::Daemon;
pub use event::event_about;
pub use receiver::{Answering, Behaviour, Receiver, ReservedPort, Target};

/// The mnemonic payscan derives destinations from in tests (not anvil's, so destinations hold
/// nothing until paid).
pub const MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
/// Confirmations the test chains require.
pub const THRESHOLD: u64 = 3;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name, |backend| async move { … })`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::support::Backend::Sqlite).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::support::Backend::Postgres).await
            }
        }
    };
}

fn unique() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A scratch directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("payscan-test-{}", unique()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A database of its own for one test.
pub struct Database {
    pub url: String,
    pg: Option<(String, String)>,
}

fn postgres_admin_url() -> String {
    std::env::var("PAYSCAN_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl Database {
    pub async fn fresh(backend: Backend, dir: &TempDir) -> Self {
        match backend {
            Backend::Sqlite => Self { url: format!("sqlite://{}", dir.0.join("payscan.db").display()), pg: None },
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("payscan_t_{}", unique());
                let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL at 127.0.0.1:5432");
                conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
                let base = admin.rsplit_once('/').map(|(base, _)| base.to_owned()).unwrap_or(admin.clone());
                Self { url: format!("{base}/{name}"), pg: Some((admin, name)) }
            }
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                runtime
                    .block_on(async {
                        let mut conn = sqlx::PgConnection::connect(&admin).await?;
                        conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await?;
                        Ok::<_, sqlx::Error>(())
                    })
                    .map_err(std::io::Error::other)
            })
            .join();
        }
    }
}

/// A fresh anvil with USDC (6 decimals, permit) and USDT (18 decimals, plain ERC-20).
pub struct TestChain {
    pub anvil: Anvil,
    pub chain_id: u64,
    pub short_name: String,
    pub usdc: Address,
    pub usdt: Address,
    /// Request Network's ERC20FeeProxy, compiled from contracts/src.
    pub fee_proxy: Address,
    /// A USD price feed for USDC, when a test deploys one (`with_usdc_feed`).
    pub usdc_feed: Option<Address>,
    pub payer: Address,
    pub deployer: Address,
}

impl TestChain {
    pub async fn start(chain_id: u64) -> Self {
        Self::start_with(AnvilOptions { chain_id, ..Default::default() }).await
    }

    pub async fn start_with(options: AnvilOptions) -> Self {
        let chain_id = options.chain_id;
        let anvil = Anvil::spawn(options).await.expect("anvil (run scripts/install-tools.sh)");
        let accounts = anvil.accounts().await.expect("accounts");
        let (deployer, payer) = (accounts[0], accounts[1]);
        let usdc =
            devchain::deploy_token(anvil.provider(), deployer, "TestToken", "USD Coin", "USDC", 6).await.expect("USDC");
        let usdt = devchain::deploy_token(anvil.provider(), deployer, "PlainToken", "Tether USD", "USDT", 18)
            .await
            .expect("USDT");
        let fee_proxy = devchain::deploy(anvil.provider(), deployer, "ERC20FeeProxy", &[]).await.expect("fee proxy");
        Self {
            anvil,
            chain_id,
            short_name: format!("TEST{chain_id}"),
            usdc,
            usdt,
            fee_proxy,
            usdc_feed: None,
            payer,
            deployer,
        }
    }

    /// Mints `amount` to the payer and transfers it to `to`; returns the transfer's hash.
    pub async fn pay(&self, token: Address, to: Address, amount: U256) -> B256 {
        let provider = self.anvil.provider();
        devchain::mint(provider, token, self.payer, self.payer, amount).await.expect("mint");
        devchain::transfer(provider, token, self.payer, to, amount).await.expect("transfer")
    }

    /// Deploys a USD price feed for USDC (8 decimals) answering `answer`, listed in the registry.
    pub async fn with_usdc_feed(mut self, answer: i64) -> Self {
        use alloy::sol_types::SolValue;
        let args = (U256::from(8u8), alloy::primitives::I256::try_from(answer).expect("answer")).abi_encode_params();
        let feed =
            devchain::deploy(self.anvil.provider(), self.deployer, "PriceFeed", &args).await.expect("price feed");
        self.usdc_feed = Some(feed);
        self
    }

    /// Mints `amount` of `token` to `to`.
    pub async fn fund(&self, token: Address, to: Address, amount: U256) {
        devchain::mint(self.anvil.provider(), token, self.payer, to, amount).await.expect("mint");
    }

    pub async fn mine(&self, blocks: u64) {
        self.anvil.mine(blocks).await.expect("anvil_mine");
    }

    /// Mining per transaction on or off: off, a transaction waits in the pool for [`Self::mine`].
    pub async fn automine(&self, on: bool) {
        use alloy::providers::Provider;
        let _: Value =
            self.anvil.provider().raw_request("evm_setAutomine".into(), (on,)).await.expect("evm_setAutomine");
    }

    /// This chain's entries in chains.json and tokens.json.
    pub fn registry_entries(&self) -> (Value, Value) {
        let chain = json!({
            "chainId": self.chain_id, "name": format!("Test chain {}", self.chain_id), "shortName": self.short_name,
            "rpcUrl": self.anvil.url, "nativeCurrency": { "name": "Ether", "symbol": "ETH", "decimals": 18 },
            "proxyAddress": self.fee_proxy.to_checksum(None),
            "confirmationThreshold": THRESHOLD, "confirmationFloor": 1
        });
        let tokens = json!([
            { "address": self.usdc.to_checksum(None), "symbol": "USDC", "decimals": 6, "name": "USD Coin",
              "permit": { "name": "USD Coin", "version": "1" },
              "priceFeed": self.usdc_feed.map(|f| f.to_checksum(None)) },
            { "address": self.usdt.to_checksum(None), "symbol": "USDT", "decimals": 18, "name": "Tether USD" }
        ]);
        (chain, tokens)
    }
}

/// How to start payscan for a test.
pub struct AppOptions<'a> {
    pub backend: Backend,
    pub chains: Vec<&'a TestChain>,
    pub targets: Vec<String>,
    pub retry: &'a str,
    pub self_webhook: bool,
    /// Configure PAYSCAN_XPUB instead of PAYSCAN_MNEMONIC.
    pub xpub: Option<String>,
    /// `PAYSCAN_RPC_<chainId>` overrides.
    pub rpc: Vec<(u64, String)>,
    pub max_reorg_depth: Option<u64>,
    /// More settings, as environment variables.
    pub env: Vec<(&'static str, String)>,
    /// List each chain's anvil as its `wsUrl` too, for `newHeads` subscriptions.
    pub ws_heads: bool,
}

impl<'a> AppOptions<'a> {
    pub fn new(backend: Backend, chain: &'a TestChain) -> Self {
        Self {
            backend,
            chains: vec![chain],
            targets: Vec::new(),
            retry: "300ms,600ms,900ms",
            self_webhook: true,
            xpub: None,
            rpc: Vec::new(),
            max_reorg_depth: None,
            env: Vec::new(),
            ws_heads: false,
        }
    }
}

/// Everything a payscan process needs to start: its database, registry files and settings.
pub struct TestEnv {
    pub env: HashMap<String, String>,
    pub jwt_secret: String,
    pub webhook_secret: String,
    pub db: Database,
    pub dir: TempDir,
    /// What payscan prints in this process while the test runs, scanned for secrets.
    pub leaks: leaks::Watch,
}

impl TestEnv {
    pub async fn new(options: &AppOptions<'_>) -> Self {
        leaks::install();
        let dir = TempDir::new();
        let db = Database::fresh(options.backend, &dir).await;
        let mut entries: Vec<(Value, Value)> = options.chains.iter().map(|c| c.registry_entries()).collect();
        if options.ws_heads {
            for ((chain, _), test_chain) in entries.iter_mut().zip(&options.chains) {
                chain["wsUrl"] = json!(test_chain.anvil.url.replacen("http://", "ws://", 1));
            }
        }
        let (chains_path, tokens_path) = write_registry(&dir.0, &entries);

        let jwt_secret = format!("test-jwt-secret-{}", unique());
        let webhook_secret = WebhookSecret::generate();
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", db.url.clone()),
            ("PAYSCAN_LISTEN", "127.0.0.1:0".to_owned()),
            ("PAYSCAN_CHAINS", chains_path.display().to_string()),
            ("PAYSCAN_TOKENS", tokens_path.display().to_string()),
            ("PAYSCAN_JWT_SECRET", jwt_secret.clone()),
            ("PAYSCAN_WEBHOOK_SECRET", webhook_secret.clone()),
            ("PAYSCAN_WEBHOOK_TARGETS", options.targets.join(",")),
            ("PAYSCAN_WEBHOOK_RETRY", options.retry.to_owned()),
            ("PAYSCAN_WEBHOOK_TIMEOUT", "2s".to_owned()),
            // Every test receiver listens on 127.0.0.1.
            ("PAYSCAN_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8".to_owned()),
            ("PAYSCAN_SELF_WEBHOOK", options.self_webhook.to_string()),
            ("PAYSCAN_POLL_MS", "100".to_owned()),
            ("PAYSCAN_RPC_TIMEOUT", "1s".to_owned()),
            // A killed instance's chains are taken over within seconds.
            ("PAYSCAN_LEASE_TTL", "2s".to_owned()),
            // Tests create intents and relay permits as one buyer far faster than a person would;
            // tests/e2e/limits.rs sets the limits it checks.
            ("PAYSCAN_RATE_LIMIT_INTENTS", "off".to_owned()),
            ("PAYSCAN_RATE_LIMIT_PERMITS", "off".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(depth) = options.max_reorg_depth {
            env.insert("PAYSCAN_MAX_REORG_DEPTH".to_owned(), depth.to_string());
        }
        for (name, value) in &options.env {
            env.insert((*name).to_owned(), value.clone());
        }
        for (chain_id, url) in &options.rpc {
            env.insert(format!("PAYSCAN_RPC_{chain_id}"), url.clone());
        }
        match &options.xpub {
            Some(xpub) => env.insert("PAYSCAN_XPUB".to_owned(), xpub.clone()),
            None => env.insert("PAYSCAN_MNEMONIC".to_owned(), MNEMONIC.to_owned()),
        };
        let leaks = leaks::Watch::start(webhook_secret.trim_start_matches("whsec_"));
        Self { env, jwt_secret, webhook_secret, db, dir, leaks }
    }
}

/// A running payscan and what a test needs to talk to it.
pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub jwt_secret: String,
    pub webhook_secret: String,
    app: Option<Application>,
    pub env: Arc<TestEnv>,
}

impl TestApp {
    /// payscan in this process, on a free port.
    pub async fn spawn(options: AppOptions<'_>) -> Self {
        let env = TestEnv::new(&options).await;
        let config = Config::from_sources(&env.env, None).expect("test config");
        let app = Application::build(config).await.expect("payscan starts");
        Self::client(format!("http://{}", app.address()), Some(app), Arc::new(env))
    }

    fn client(url: String, app: Option<Application>, env: Arc<TestEnv>) -> Self {
        Self {
            url,
            http: reqwest::Client::new(),
            jwt_secret: env.jwt_secret.clone(),
            webhook_secret: env.webhook_secret.clone(),
            app,
            env,
        }
    }

    /// payscan with one more webhook target: a receiver that knows payscan's signing secret. The
    /// target's port is reserved first, since the secret exists only once payscan is configured.
    pub async fn spawn_with_receiver(options: AppOptions<'_>) -> (Self, Receiver) {
        Self::spawn_with_receiver_answering(options, Answering::default()).await
    }

    /// [`TestApp::spawn_with_receiver`], the receiver answering as `answering` says.
    pub async fn spawn_with_receiver_answering(mut options: AppOptions<'_>, answering: Answering) -> (Self, Receiver) {
        let port = receiver::ReservedPort::new();
        options.targets.push(port.url());
        let app = Self::spawn(options).await;
        let receiver = Receiver::start_answering(port, &app.webhook_secret, answering).await;
        (app, receiver)
    }

    /// A token for `sub` with `role`, valid for an hour.
    pub fn token(&self, sub: &str, role: &str) -> String {
        payscan::dev::token(&self.jwt_secret, sub, role, Duration::from_secs(3600)).expect("token")
    }

    pub fn admin(&self) -> String {
        self.token("admin-1", "admin")
    }

    /// POSTs JSON with an optional bearer token.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.url)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.unwrap_or_else(|e| panic!("POST {path} {body}: {e:?}"))).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        read(request.send().await.expect("request")).await
    }

    /// Creates an intent as `buyer` and returns its `data`, asserting a 200.
    pub async fn intent(&self, buyer: &str, body: Value) -> Value {
        let (status, response) =
            self.post("/api/payment/request-network/intents", Some(&self.token(buyer, "buyer")), &body).await;
        assert_eq!(status, StatusCode::OK, "intent refused: {response}");
        response["data"].clone()
    }

    /// A payment as an admin sees it (with transfers and webhook deliveries).
    pub async fn payment(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/api/payment/{id}"), Some(&self.admin())).await;
        assert_eq!(status, StatusCode::OK, "payment {id}: {body}");
        body["data"].clone()
    }

    /// Polls the payment until `done` holds or `timeout` passes.
    pub async fn wait_for(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let payment = self.payment(id).await;
            if done(&payment) {
                return payment;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; payment is {payment:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A payout as an admin sees it.
    pub async fn payout(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/payouts/{id}"), Some(&self.admin())).await;
        assert_eq!(status, StatusCode::OK, "payout {id}: {body}");
        body["data"].clone()
    }

    /// Polls the payout until its status is `status`.
    pub async fn wait_for_payout(&self, id: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let payout = self.payout(id).await;
            if payout["status"] == status {
                return payout;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {status}; payout is {payout:#}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        self.wait_for(id, status, |p| p["status"] == status).await
    }

    /// Waits until every delivery of the payment's events left the pending state.
    pub async fn wait_for_deliveries(&self, id: &str, count: usize) -> Value {
        self.wait_for(id, "webhook deliveries", |p| {
            let webhooks = p["webhooks"].as_array().cloned().unwrap_or_default();
            webhooks.len() == count && webhooks.iter().all(|w| w["status"] != "pending")
        })
        .await
    }

    pub async fn stop(mut self) {
        if let Some(app) = self.app.take() {
            app.stop().await.expect("graceful stop");
        }
    }
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Writes chains.json and tokens.json from (chain, tokens) entries; returns their paths.
pub fn write_registry(dir: &std::path::Path, entries: &[(Value, Value)]) -> (PathBuf, PathBuf) {
    let chains: Vec<Value> = entries.iter().map(|(chain, _)| chain.clone()).collect();
    let tokens: serde_json::Map<String, Value> =
        entries.iter().map(|(chain, tokens)| (chain["chainId"].to_string(), tokens.clone())).collect();
    let chains_path = dir.join("chains.json");
    let tokens_path = dir.join("tokens.json");
    std::fs::write(&chains_path, Value::Array(chains).to_string()).expect("write chains.json");
    std::fs::write(&tokens_path, Value::Object(tokens).to_string()).expect("write tokens.json");
    (chains_path, tokens_path)
}

/// Registry entries for a chain whose only RPC refuses every connection, and the port it holds
/// (bound, never listening) for as long as the test keeps it.
pub fn unreachable_chain(chain_id: u64) -> (Value, Value, ReservedPort) {
    let reserved = ReservedPort::new();
    let port = reserved.port;
    let chain = json!({
        "chainId": chain_id, "name": format!("Dead chain {chain_id}"), "shortName": format!("DEAD{chain_id}"),
        "rpcUrl": format!("http://127.0.0.1:{port}"), "nativeCurrency": { "name": "Ether", "symbol": "ETH", "decimals": 18 },
        "confirmationThreshold": THRESHOLD, "confirmationFloor": 1
    });
    let tokens = json!([{ "address": "0x00000000000000000000000000000000000000aa", "symbol": "USDC", "decimals": 6, "name": "USD Coin" }]);
    (chain, tokens, reserved)
}

/// anvil's account 2 key (public test material): the relayer that pays gas.
pub const RELAYER_KEY: &str = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
/// anvil's account 3 key (public test material): the payout wallet.
pub const PAYOUT_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
pub const PAYOUT_WALLET: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
pub const MASTER: &str = "0x000000000000000000000000000000000000bEEF";

/// Settings of a payscan that signs: local keys, relayer, payout wallet, master wallet.
pub fn local_signer(options: &mut AppOptions<'_>) {
    options.env.extend([
        ("PAYSCAN_SIGNER", "local".to_owned()),
        ("PAYSCAN_RELAYER_KEY", RELAYER_KEY.to_owned()),
        ("PAYSCAN_PAYOUT_KEY", PAYOUT_KEY.to_owned()),
        ("PAYSCAN_MASTER_WALLET", MASTER.to_owned()),
    ]);
}

/// A completed payment of `amount` token units by `buyer-1`.
pub async fn completed(app: &TestApp, chain: &TestChain, offer: &str, amount: &str, token: &str) -> Value {
    let intent = app.intent("buyer-1", intent_body(offer, amount, token, chain)).await;
    let address = if token == "USDC" { chain.usdc } else { chain.usdt };
    chain.pay(address, self::address(&intent["destination"]), units(&intent["amountBaseUnits"])).await;
    chain.mine(THRESHOLD).await;
    app.wait_for_status(intent["paymentId"].as_str().expect("id"), "completed").await;
    intent
}

/// An intent body for the test chain.
pub fn intent_body(offer: &str, amount: &str, token: &str, chain: &TestChain) -> Value {
    json!({
        "purchaseRequestId": format!("pr-{offer}"),
        "sellerOfferId": offer,
        "sellerId": "seller-1",
        "amount": amount,
        "token": token,
        "network": chain.chain_id,
    })
}

/// `payment["x"]` as an address.
pub fn address(value: &Value) -> Address {
    value.as_str().expect("address string").parse().expect("address")
}

/// `payment["x"]` as a base-unit amount.
pub fn units(value: &Value) -> U256 {
    value.as_str().expect("amount string").parse().expect("amount")
}
