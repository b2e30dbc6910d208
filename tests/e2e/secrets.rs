//! No secret leaves payscan: a `payscan serve` at `RUST_LOG=trace`, reaching its chain through RPC
//! URLs with API keys in their path, query and userinfo (one of them refusing every connection),
//! takes a payment, delivers its webhooks, sweeps, pays out, then its RPC stops answering in time.
//! Every answer it gave, every webhook it sent and every line it printed are scanned for the keys
//! of the URLs, the mnemonic, the private keys, the webhook and JWT secrets: none may appear.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::leaks;
use crate::support::proxy::{Faults, RpcProxy};
use crate::support::*;

/// anvil's account 0 key (public test material): the chain's funder.
const ANVIL_KEY_0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Everything payscan said, to be scanned at the end.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    fn answer(&mut self, what: &str, status: StatusCode, body: &Value) -> Value {
        self.0.push(format!("{what} -> {status} {body}"));
        body.clone()
    }
}

async fn get(app: &TestApp, seen: &mut Seen, path: &str, token: &str) -> Value {
    let (status, body) = app.get(path, Some(token)).await;
    seen.answer(path, status, &body)
}

async fn post(app: &TestApp, seen: &mut Seen, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
    let (status, answer) = app.post(path, Some(token), body).await;
    seen.answer(path, status, &answer);
    (status, answer)
}

/// Polls `path` until `done` holds.
async fn until(app: &TestApp, seen: &mut Seen, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let body = get(app, seen, path, token).await;
        if done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "timed out on {path}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both_backends!(no_secret_reaches_an_answer_a_webhook_or_a_trace_log, |backend| async move {
    let chain = TestChain::start(31337).await;
    let proxy = RpcProxy::start(&chain.anvil.url, Faults::default()).await;
    let keyed = format!("{}/v2/SECRETKEYPATH?apikey=SECRETKEYQUERY", proxy.url);
    // A second endpoint that refuses every connection, keyed in its userinfo and path.
    let refused = ReservedPort::new();
    let refused_url = format!("http://user:SECRETUSERINFO@127.0.0.1:{}/v3/SECRETKEYPATH2", refused.port);
    let port = ReservedPort::new();
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    options.rpc.push((chain.chain_id, format!("{keyed},{refused_url}")));
    options.targets.push(port.url());
    options.env.push(("RUST_LOG", "trace".to_owned()));
    options.env.push(("PAYSCAN_PAYOUT_RETRY", "100ms,100ms".to_owned()));
    let env = Arc::new(TestEnv::new(&options).await);
    let receiver = Receiver::start_on(port, &env.webhook_secret).await;
    let started = Instant::now();
    let (daemon, app) = Daemon::start(env.clone()).await;
    let admin = app.admin();
    let buyer = app.token("buyer-1", "buyer");
    let mut seen = Seen::default();

    // A payment, its webhooks, its sweep.
    let (status, intent) = post(
        &app,
        &mut seen,
        "/api/payment/request-network/intents",
        &buyer,
        &intent_body("offer-s1", "2", "USDC", &chain),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{intent}");
    let id = intent["data"]["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["data"]["destination"]), U256::from(2_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    receiver.wait_for(&id, "payment.completed").await;
    get(&app, &mut seen, &format!("/api/payment/{id}"), &buyer).await;
    let (status, swept) =
        post(&app, &mut seen, &format!("/api/payment/derived-destinations/{id}/sweep"), &admin, &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{swept}");

    // A payout that completes, and one queued before the RPC goes away.
    chain.fund(chain.usdc, PAYOUT_WALLET.parse().expect("address"), U256::from(10_000_000u64)).await;
    let payout = |reference: &str| {
        json!({ "userId": "seller-7", "amount": "1", "token": "USDC", "chainId": chain.chain_id,
                "destination": { "type": "address", "account": "0x000000000000000000000000000000000000c0de" },
                "reference": reference })
    };
    let (status, paid) = post(&app, &mut seen, "/payouts", &admin, &payout("ref-s1")).await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let paid_id = paid["data"]["payoutId"].as_str().expect("id").to_owned();
    post(&app, &mut seen, "/admin/payouts/run", &admin, &json!({})).await;
    until(&app, &mut seen, &format!("/payouts/{paid_id}"), &admin, |p| p["data"]["status"] == "COMPLETED").await;
    let (status, queued) = post(&app, &mut seen, "/payouts", &admin, &payout("ref-s2")).await;
    assert_eq!(status, StatusCode::CREATED, "{queued}");
    let queued_id = queued["data"]["payoutId"].as_str().expect("id").to_owned();

    // The RPC stops answering in time: every call now ends in a transport error that quotes the
    // keyed URL.
    proxy.set(|f| f.latency = Duration::from_secs(3));
    post(&app, &mut seen, "/admin/payouts/run", &admin, &json!({})).await;
    let failed =
        until(&app, &mut seen, &format!("/payouts/{queued_id}"), &admin, |p| p["data"]["status"] == "MANUAL_REVIEW")
            .await;
    let last_error = failed["data"]["lastError"].as_str().unwrap_or_default().to_owned();
    assert!(last_error.contains("127.0.0.1"), "the failure names the endpoint: {failed}");
    receiver.wait_for(&queued_id, "payout.manual_review").await;
    let status_path = "/api/admin/scanner/status";
    until(&app, &mut seen, status_path, &admin, |s| s["data"]["chains"][0]["lastError"].is_string()).await;
    let (status, answer) = post(
        &app,
        &mut seen,
        "/api/payment/request-network/intents",
        &buyer,
        &intent_body("offer-s2", "1", "USDC", &chain),
    )
    .await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{answer}");
    post(&app, &mut seen, &format!("/api/admin/rn/networks/probe/{}", chain.chain_id), &admin, &json!({})).await;
    post(&app, &mut seen, &format!("/api/payment/derived-destinations/{id}/balance"), &admin, &json!({})).await;
    post(&app, &mut seen, &format!("/api/payment/derived-destinations/{id}/sweep"), &admin, &json!({})).await;
    post(&app, &mut seen, "/payouts", &admin, &payout("ref-s3")).await;
    get(&app, &mut seen, "/api/admin/rn/networks", &admin).await;
    get(&app, &mut seen, &format!("/api/payment/{id}"), &admin).await;
    get(&app, &mut seen, &format!("/api/payment/payments/{id}/debug"), &admin).await;
    get(&app, &mut seen, "/api/payment/export", &admin).await;
    get(&app, &mut seen, "/metrics", &admin).await;
    // Let the follower fail a few more ticks at trace level.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ran_for = started.elapsed();
    drop(refused);
    drop(proxy);
    let log = std::mem::take(&mut *daemon.log.lock().unwrap_or_else(|p| p.into_inner()));
    drop(daemon);

    assert!(log.len() > 1000, "a trace log: {} lines", log.len());
    assert!(log.iter().any(|l| l.contains("serialized request")), "alloy's RPC client traced its calls");
    let webhooks: Vec<String> =
        receiver.deliveries().iter().map(|d| format!("webhook {} {}", d.event_type, d.body)).collect();
    assert!(webhooks.len() >= 6, "{webhooks:?}");
    let secret_b64 = env.webhook_secret.trim_start_matches("whsec_").to_owned();
    let mut secrets = vec![
        ("the RPC URL's path key", "SECRETKEYPATH".to_owned()),
        ("the RPC URL's query key", "SECRETKEYQUERY".to_owned()),
        ("the second RPC URL's userinfo", "SECRETUSERINFO".to_owned()),
        ("the mnemonic", MNEMONIC.to_owned()),
        ("the mnemonic's words", "abandon abandon".to_owned()),
        ("the relayer key", RELAYER_KEY.trim_start_matches("0x").to_owned()),
        ("the payout key", PAYOUT_KEY.trim_start_matches("0x").to_owned()),
        ("anvil's funder key", ANVIL_KEY_0.to_owned()),
        ("the webhook secret", "whsec_".to_owned()),
        ("the webhook secret's key", secret_b64),
        ("the JWT secret", env.jwt_secret.clone()),
    ];
    secrets.retain(|(_, s)| !s.is_empty());
    let everything = log.iter().chain(&seen.0).chain(&webhooks);
    let mut hits = Vec::new();
    for line in everything {
        let lower = line.to_ascii_lowercase();
        for (what, secret) in &secrets {
            if lower.contains(&secret.to_ascii_lowercase()) {
                hits.push(format!("{what}: {}", line.chars().take(400).collect::<String>()));
            }
        }
    }
    assert!(hits.is_empty(), "{} secrets leaked, e.g.:\n{}", hits.len(), hits[..hits.len().min(10)].join("\n"));
    eprintln!("trace run: {} log lines in {:.1} s", log.len(), ran_for.as_secs_f64());
});

both_backends!(a_panic_in_a_task_holding_every_secret_prints_none_of_them, |backend| async move {
    let chain = TestChain::start(31337).await;
    // Keyed RPC URLs (path, query, userinfo), as a provider's would be.
    let keyed = format!(
        "{}/v2/SECRETKEYPATH?apikey=SECRETKEYQUERY,http://user:SECRETUSERINFO@127.0.0.1:1/v3/SECRETKEYPATH",
        chain.anvil.url
    );
    let xprv = leaks::account_xprv(MNEMONIC);
    // Once with the mnemonic, once with its xprv: payscan holds one or the other.
    for key in [("PAYSCAN_MNEMONIC", MNEMONIC.to_owned()), ("PAYSCAN_XPRV", xprv.clone())] {
        let mut options = AppOptions::new(backend, &chain);
        local_signer(&mut options);
        options.rpc.push((chain.chain_id, keyed.clone()));
        options.env.push(key.clone());
        let mut env = TestEnv::new(&options).await;
        if key.0 == "PAYSCAN_XPRV" {
            env.env.remove("PAYSCAN_MNEMONIC");
        }
        let env = Arc::new(env);
        let (mut daemon, app) = Daemon::start_with(
            env.clone(),
            &[("PAYSCAN_TEST_PANIC", "1".to_owned()), ("RUST_BACKTRACE", "1".to_owned())],
        )
        .await;
        let (status, _) = app.get("/api/payment/health", None).await;
        assert_eq!(status, StatusCode::OK, "payscan started before the panic");
        let deadline = Instant::now() + Duration::from_secs(30);
        let log = loop {
            let log = daemon.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if log.iter().any(|l| l.contains("task panicked")) {
                break log;
            }
            assert!(Instant::now() < deadline, "no panic reported:\n{}", log.join("\n"));
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(!daemon.exited(), "a panicking task leaves the daemon running");
        // The panic message is there, naming what the task held: a leak would show in it.
        let message = log.iter().find(|l| l.contains("panic drill: a task holding Config")).cloned();
        let message = message.unwrap_or_else(|| panic!("no panic message:\n{}", log.join("\n")));
        for held in ["[REDACTED]", "Keys", "Registry", "127.0.0.1:1/…", "KeySource"] {
            assert!(message.contains(held), "the panic message lacks {held}: {message}");
        }
        let secrets = leaks::Secrets::suite()
            .with("the xprv", &xprv)
            .with("the webhook secret's key", env.webhook_secret.trim_start_matches("whsec_"))
            .with("the JWT secret", &env.jwt_secret);
        let hits = secrets.scan(&log);
        assert!(
            hits.is_empty(),
            "{} with {}: {} secrets printed, e.g.:\n{}",
            key.0,
            backend_name(backend),
            hits.len(),
            hits[..hits.len().min(10)].join("\n")
        );
        drop(daemon);
    }
});

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}
