//! `kill -9` chaos: payments, sweeps and payouts go on while payscan is crashed again and again at
//! chosen steps (failpoints, `PAYSCAN_FAILPOINTS`, compiled into the test build only), with three
//! webhook targets: a healthy one, one that fails each event's first two attempts, and one that
//! answers each delivery after 1.5 s. After the last restart every transfer is credited once, the
//! ledger equals the chain, every event was enqueued once and reached every target, every payout
//! and sweep moved money once, and a delivery arrives again only if a kill came between its
//! previous attempt and it, before payscan recorded that attempt, or if payscan saw that attempt
//! fail; and one target's slow answers never hold back another's records.
//!
//! Quick size: 100 payments and 10 kills. `PAYSCAN_CHAOS_FULL=1`: 500 payments.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use payscan::devchain;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

/// Where each run dies: a step, and how many times the run reaches it first.
const KILLS: [(&str, u64); 10] = [
    ("follower.logs_fetched", 3),
    ("follower.credited", 2),
    ("dispatch.acknowledged", 6),
    ("follower.confirmed", 3),
    ("outbound.broadcast", 2),
    ("sweep.mined", 1),
    ("dispatch.acknowledged", 25),
    ("follower.credited", 5),
    ("outbound.broadcast", 5),
    ("follower.confirmed", 8),
];
/// How soon the healthy target's answered deliveries are recorded, at the median: outcomes are
/// committed 25 ms at a time as attempts end, so the slow target's 1.5 s answers must not show.
const RECORD_LAG_MEDIAN: Duration = Duration::from_secs(1);
/// Payouts created up front; runs in the middle of the chaos pay them.
const PAYOUTS: u64 = 4;
/// Payments per buyer: each buyer's ledger fits one page.
const PER_BUYER: usize = 20;

struct Paid {
    id: String,
    token: Address,
    destination: Address,
    amount: U256,
}

both_backends!(kill_9_at_every_step_loses_nothing_and_repeats_only_what_was_in_flight, |backend| async move {
    let full = std::env::var_os("PAYSCAN_CHAOS_FULL").is_some();
    let payments = if full { 500usize } else { 100 };
    // Deaths and arrivals are `Instant`s, payscan's log lines wall-clock times.
    let anchor = (Instant::now(), SystemTime::now());
    let wall = |at: Instant| anchor.1 + at.saturating_duration_since(anchor.0);
    let buyers = payments.div_ceil(PER_BUYER);
    let chain = TestChain::start(31337).await;
    let ports = [ReservedPort::new(), ReservedPort::new(), ReservedPort::new()];
    let mut options = AppOptions::new(backend, &chain);
    options.targets = ports.iter().map(ReservedPort::url).collect();
    options.retry = "200ms,400ms,800ms,1s,1s,1s,1s,1s";
    local_signer(&mut options);
    options.env.push(("PAYSCAN_PAYOUT_RETRY", "200ms,200ms,200ms".to_owned()));
    let env = Arc::new(TestEnv::new(&options).await);
    let [healthy, failing, slow] = ports;
    let healthy = Receiver::start_on(healthy, &env.webhook_secret).await;
    let failing =
        Receiver::start_answering(failing, &env.webhook_secret, Answering { fail_first: 2, ..Default::default() })
            .await;
    let slow = Receiver::start_answering(
        slow,
        &env.webhook_secret,
        Answering { delay: Duration::from_millis(1500), ..Default::default() },
    )
    .await;
    let wallet: Address = PAYOUT_WALLET.parse().expect("address");
    chain.fund(chain.usdc, wallet, U256::from(PAYOUTS * 1_000_000)).await;

    // Every intent and payout exists before the first kill: what the chaos tests is what payscan
    // does on its own, from the chain and its database.
    let (daemon, app) = Daemon::start(env.clone()).await;
    let admin = app.admin();
    let mut paid = Vec::new();
    for i in 0..payments {
        let (symbol, token) = if i % 2 == 0 { ("USDC", chain.usdc) } else { ("USDT", chain.usdt) };
        let buyer = format!("buyer-{}", i % buyers);
        let intent =
            app.intent(&buyer, intent_body(&format!("offer-chaos-{i}"), &format!("1.{i:06}"), symbol, &chain)).await;
        paid.push(Paid {
            id: intent["paymentId"].as_str().expect("id").to_owned(),
            token,
            destination: address(&intent["destination"]),
            amount: units(&intent["amountBaseUnits"]),
        });
    }
    let recipients: Vec<Address> = (1..=PAYOUTS).map(|i| Address::with_last_byte(0xb0 + i as u8)).collect();
    let mut payouts = Vec::new();
    for (i, recipient) in (1u64..).zip(&recipients) {
        let body = json!({
            "userId": format!("seller-{i}"), "amount": "1", "token": "USDC", "chainId": chain.chain_id,
            "destination": { "type": "address", "account": recipient.to_checksum(None) },
            "reference": format!("chaos-{i}"),
        });
        let (status, created) = app.post("/payouts", Some(&admin), &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        payouts.push(created["data"]["payoutId"].as_str().expect("id").to_owned());
    }
    // Every run's log, read at the end: it says which attempts payscan itself saw fail.
    let mut logs = vec![daemon.log.clone()];
    daemon.kill9();
    let mut deaths = vec![Instant::now()];

    let per_round = payments.div_ceil(KILLS.len());
    let mut fired = Vec::new();
    for (round, (point, nth)) in KILLS.iter().enumerate() {
        let (mut daemon, app) =
            Daemon::start_with(env.clone(), &[("PAYSCAN_FAILPOINTS", format!("{point}:{nth}"))]).await;
        // Money moves out while more comes in: sweeps of what completed, and the payout batch.
        if round == 4 || round == 5 || round == 8 {
            let (http, url, admin) = (app.http.clone(), app.url.clone(), admin.clone());
            tokio::spawn(async move {
                let _ = http
                    .post(format!("{url}/api/payment/derived-destinations/sweep"))
                    .bearer_auth(&admin)
                    .json(&json!({}))
                    .send()
                    .await;
                let _ = http.post(format!("{url}/admin/payouts/run")).bearer_auth(&admin).send().await;
            });
        }
        for payment in paid.iter().skip(round * per_round).take(per_round) {
            chain.pay(payment.token, payment.destination, payment.amount).await;
        }
        chain.mine(THRESHOLD).await;
        let deadline = Instant::now() + Duration::from_secs(15);
        while !daemon.exited() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        fired.push((*point, daemon.exited()));
        logs.push(daemon.log.clone());
        daemon.kill9();
        deaths.push(Instant::now());
    }
    let kills = KILLS.len();
    let reached = fired.iter().filter(|(_, aborted)| *aborted).count();
    assert!(reached * 2 >= kills, "most runs should die at their step, not at the deadline: {fired:?}");

    // The last run: no failpoint. Everything settles.
    let (daemon, app) = Daemon::start(env.clone()).await;
    logs.push(daemon.log.clone());
    chain.mine(THRESHOLD).await;
    let targets = 4; // three receivers and payscan's own
    for payment in &paid {
        app.wait_for_status(&payment.id, "completed").await;
    }
    // Each destination is swept by two mined transactions: the deadline grows with the payments.
    let deadline = Instant::now() + Duration::from_secs(60 + paid.len() as u64);
    loop {
        let (status, swept) = app.post("/api/payment/derived-destinations/sweep", Some(&admin), &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{swept}");
        let results = swept["data"]["results"].as_array().cloned().unwrap_or_default();
        if results.iter().all(|r| r["status"] == "skipped") {
            break;
        }
        assert!(Instant::now() < deadline, "sweeps did not settle: {results:?}");
    }
    let (status, run) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    for id in &payouts {
        app.wait_for_payout(id, "COMPLETED").await;
    }

    // Each transfer credited once, and once only across all payments.
    let mut seen = HashSet::new();
    let mut events: HashMap<String, String> = HashMap::new();
    for payment in &paid {
        let shown = wait_for_deliveries_at_least(&app, &payment.id, 2 * targets).await;
        let transfers = shown["transfers"].as_array().expect("transfers");
        assert_eq!(transfers.len(), 1, "credited once: {shown:#}");
        let key = (transfers[0]["txHash"].to_string(), transfers[0]["logIndex"].to_string());
        assert!(seen.insert(key), "a transfer credited to two payments");
        // Each event enqueued once: one delivery of each kind per target.
        let webhooks = shown["webhooks"].as_array().expect("webhooks");
        let mut per_target: HashMap<(String, String), usize> = HashMap::new();
        for webhook in webhooks {
            assert_eq!(webhook["status"], "delivered", "{webhook}");
            let kind = webhook["type"].as_str().unwrap_or_default().to_owned();
            *per_target.entry((webhook["target"].to_string(), kind.clone())).or_insert(0) += 1;
            events.insert(webhook["webhookId"].as_str().unwrap_or_default().to_owned(), kind);
        }
        assert!(per_target.values().all(|n| *n == 1), "an event enqueued twice: {webhooks:#?}");
        assert_eq!(per_target.len(), 2 * targets, "{webhooks:#?}");
    }

    // The ledger equals the chain: balances summed from every buyer's entries are what each
    // destination (empty, swept) and the master wallet (every payment once) hold.
    let provider = chain.anvil.provider();
    let mut derived: HashMap<(Address, Address), U256> = HashMap::new();
    for b in 0..buyers {
        let (_, ledger) = app.get(&format!("/transactions?userId=buyer-{b}&limit=200"), Some(&admin)).await;
        for entry in ledger["data"].as_array().expect("entries") {
            let balance = derived.entry((address(&entry["account"]), address(&entry["token"]))).or_default();
            match entry["direction"].as_str() {
                Some("in") => *balance += units(&entry["amountBaseUnits"]),
                Some("out") => *balance -= units(&entry["amountBaseUnits"]),
                _ => {}
            }
        }
    }
    let master: Address = MASTER.parse().expect("address");
    assert_eq!(derived.len(), payments + 2, "each destination and the master wallet in both tokens");
    for ((account, token), balance) in &derived {
        let on_chain = devchain::balance_of(provider, *token, *account).await.expect("balance");
        assert_eq!(*balance, on_chain, "{account} in {token}: the ledger against the chain");
    }
    for token in [chain.usdc, chain.usdt] {
        let expected = paid.iter().filter(|p| p.token == token).fold(U256::ZERO, |a, p| a + p.amount);
        assert_eq!(derived.get(&(master, token)), Some(&expected), "the master wallet holds every payment once");
    }
    for payment in &paid {
        assert_eq!(derived.get(&(payment.destination, payment.token)), Some(&U256::ZERO), "{} swept", payment.id);
    }
    let (_, destinations) = app.get("/api/payment/derived-destinations?status=swept&limit=200", Some(&admin)).await;
    for destination in destinations["data"]["destinations"].as_array().expect("destinations") {
        assert_eq!(destination["sweepCount"], 1, "{destination}");
    }
    // Each payout paid once, in one transaction each.
    for recipient in &recipients {
        let got = devchain::balance_of(provider, chain.usdc, *recipient).await.expect("balance");
        assert_eq!(got, U256::from(1_000_000u64), "paid once");
    }
    assert_eq!(provider.get_transaction_count(wallet).await.expect("nonce"), PAYOUTS, "one transaction per payout");

    // Every event reached every receiver. A delivery arrives again only when its previous attempt
    // was out at a kill (the sender died before recording it) or payscan saw that attempt fail
    // (it gave up waiting on an answer the loaded machine was slow to send). Never after payscan
    // recorded it delivered, and never because a lease ran out on an answered attempt.
    let printed: Vec<String> =
        logs.iter().flat_map(|log| log.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()).collect();
    let outcomes = DispatchLog::read(&printed);
    let mut counts = Vec::new();
    for (name, receiver) in [("healthy", &healthy), ("failing", &failing), ("slow", &slow)] {
        assert_eq!(receiver.unverified(), 0);
        let deliveries = receiver.deliveries();
        let arrived: HashSet<&str> = deliveries.iter().map(|d| d.id.as_str()).collect();
        let missing: Vec<&String> = events.keys().filter(|id| !arrived.contains(id.as_str())).collect();
        assert!(missing.is_empty(), "{name} never got {missing:?}");
        // payscan prints a target without its path.
        let origin = receiver.url.trim_end_matches("/hook");
        let (mut after_kill, mut after_failure) = (0, 0);
        for again in deliveries.iter().filter(|d| !d.first) {
            let previous = deliveries.iter().filter(|d| d.id == again.id && d.at < again.at).max_by_key(|d| d.at);
            let previous = previous.expect("a first arrival");
            let lines = outcomes.of(&again.id, origin);
            let about = || printed.iter().filter(|line| line.contains(&again.id)).collect::<Vec<_>>();
            let recorded = lines.iter().find(|l| l.kind == Outcome::Delivered && l.at < wall(again.at));
            assert!(
                recorded.is_none(),
                "{name}: {} was sent again after payscan recorded it delivered: {:#?}",
                again.id,
                about()
            );
            let superseded = lines.iter().find(|l| l.kind == Outcome::Superseded);
            assert!(superseded.is_none(), "{name}: {} outlived its claim's lease: {:#?}", again.id, about());
            let signed = SystemTime::UNIX_EPOCH + Duration::from_secs(previous.signed_at);
            if deaths.iter().any(|died| wall(*died) >= signed && *died <= again.at) {
                after_kill += 1;
                continue;
            }
            let failure = lines.iter().find(|l| l.kind == Outcome::Failed && l.at < wall(again.at));
            assert!(
                failure.is_some(),
                "{name}: {} arrived again with no kill since its previous attempt was signed and no failed \
                 attempt in payscan's log: {:#?}",
                again.id,
                about()
            );
            after_failure += 1;
        }
        counts.push((name, arrived.len(), after_kill, after_failure));
    }
    // A target's records are not held back by another's slow answers.
    let mut lags: Vec<Duration> = healthy
        .deliveries()
        .iter()
        .filter_map(|d| {
            let answered = wall(d.at);
            let lines = outcomes.of(&d.id, healthy.url.trim_end_matches("/hook"));
            let recorded =
                lines.iter().filter(|l| l.kind == Outcome::Delivered && l.at >= answered).map(|l| l.at).min();
            recorded.and_then(|at| at.duration_since(answered).ok())
        })
        .collect();
    lags.sort();
    let quantile = |percent: usize| lags.get(lags.len().saturating_sub(1) * percent / 100).copied();
    eprintln!(
        "chaos: healthy target, answer to record: p50 {:?}, p99 {:?}, max {:?} over {} deliveries",
        quantile(50),
        quantile(99),
        lags.last(),
        lags.len()
    );
    assert!(lags.len() * 2 >= events.len(), "most deliveries to the healthy target are recorded in the log");
    assert!(quantile(50).is_some_and(|p50| p50 <= RECORD_LAG_MEDIAN), "records held back: {:?}", quantile(50));
    eprintln!(
        "chaos: (target, events, repeated after a kill, after a failed attempt) after {} kills: {counts:?}",
        deaths.len()
    );
    eprintln!("chaos: {reached} of {kills} runs died at their step: {fired:?}");
    drop(daemon);
});

/// Waits until the payment shows at least `count` webhook deliveries, none pending.
async fn wait_for_deliveries_at_least(app: &TestApp, id: &str, count: usize) -> Value {
    app.wait_for(id, "webhook deliveries", |p| {
        let webhooks = p["webhooks"].as_array().cloned().unwrap_or_default();
        webhooks.len() >= count && webhooks.iter().all(|w| w["status"] != "pending")
    })
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    Failed,
    Superseded,
}

/// One dispatcher line about one attempt: what payscan recorded, and when it said so.
struct DispatchLine {
    at: SystemTime,
    kind: Outcome,
    target: String,
}

/// The dispatcher's lines of every run, by event id.
struct DispatchLog(HashMap<String, Vec<DispatchLine>>);

impl DispatchLog {
    fn read(lines: &[String]) -> Self {
        let mut by_event: HashMap<String, Vec<DispatchLine>> = HashMap::new();
        for line in lines {
            let kind = if line.contains("webhook delivered") {
                Outcome::Delivered
            } else if line.contains("webhook delivery failed; will retry") {
                Outcome::Failed
            } else if line.contains("outlived its claim") {
                Outcome::Superseded
            } else {
                continue;
            };
            let field = |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_owned);
            let at = line
                .split_whitespace()
                .next()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(SystemTime::from);
            if let (Some(at), Some(event), Some(target)) = (at, field("event_id="), field("target=")) {
                by_event.entry(event).or_default().push(DispatchLine { at, kind, target });
            }
        }
        Self(by_event)
    }

    /// The lines about `event` and the target at `origin`.
    fn of(&self, event: &str, origin: &str) -> Vec<&DispatchLine> {
        let prefix = format!("{origin}/");
        self.0
            .get(event)
            .map_or_else(Vec::new, |lines| lines.iter().filter(|l| l.target.starts_with(&prefix)).collect())
    }
}
