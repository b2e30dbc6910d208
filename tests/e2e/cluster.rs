//! Several instances on one PostgreSQL: each chain followed by one leaseholder at a time, taken
//! over when it dies; any instance serves the API; `--role` splits the API from the scanner.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use payscan_core::event::EventKind;
use payscan_core::store::{DeliveryStatus, Store};
use payscan_core::{ChainId, PaymentId};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;

/// The pid of the instance holding `chain`'s lease (holders are named `<pid>-<random>`).
async fn holder_of(store: &Store, chain: u64) -> Option<u32> {
    let leases = store.leases().await.expect("leases");
    leases
        .iter()
        .find(|(id, ..)| *id == ChainId(chain))
        .and_then(|(_, holder, _)| holder.split('-').next()?.parse().ok())
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, mut done: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_survive_the_kill_of_a_leaseholder() {
    let (one, two) = (TestChain::start(31337).await, TestChain::start(31338).await);
    let port = ReservedPort::new();
    let mut options = AppOptions::new(Backend::Postgres, &one);
    options.chains.push(&two);
    options.targets = vec![port.url()];
    let env = Arc::new(TestEnv::new(&options).await);
    let receiver = Receiver::start_on(port, &env.webhook_secret).await;
    let store = Store::connect(&env.db.url).await.expect("store");

    let mut daemons = Vec::new();
    for _ in 0..3 {
        daemons.push(Daemon::start(env.clone()).await);
    }
    wait_until("both chains leased", || async {
        holder_of(&store, 31337).await.is_some() && holder_of(&store, 31338).await.is_some()
    })
    .await;

    // A burst across both chains, through every instance's API.
    let mut payments = Vec::new();
    for i in 0..12 {
        let chain = if i % 2 == 0 { &one } else { &two };
        let (_, app) = &daemons[i % 3];
        let intent = app.intent(&format!("buyer-{i}"), intent_body(&format!("offer-{i}"), "1", "USDC", chain)).await;
        payments.push((intent, chain));
    }
    for (intent, chain) in &payments[..6] {
        chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    }
    // Kill whoever follows the first chain, mid-way.
    let victim = holder_of(&store, 31337).await.expect("a holder");
    let at = daemons.iter().position(|(d, _)| d.pid() == victim).expect("the holder is one of ours");
    let (daemon, _) = daemons.remove(at);
    daemon.kill9();
    for (intent, chain) in &payments[6..] {
        chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    }
    one.mine(THRESHOLD).await;
    two.mine(THRESHOLD).await;

    let (_, app) = &daemons[0];
    for (intent, _) in &payments {
        let id = intent["paymentId"].as_str().expect("id");
        let paid = app.wait_for_status(id, "completed").await;
        assert_eq!(paid["transfers"].as_array().map(Vec::len), Some(1), "credited once: {paid:#}");
        receiver.wait_for(id, "payment.completed").await;
        let kinds: Vec<String> = receiver.events_for(id).into_iter().map(|e| e.event_type).collect();
        assert_eq!(kinds, ["payment.processing", "payment.completed"], "each event once to the target");
    }
    let destinations: HashSet<String> =
        payments.iter().map(|(p, _)| p["destination"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(destinations.len(), payments.len(), "no derivation index reused");
    let successor = holder_of(&store, 31337).await.expect("a new holder");
    assert_ne!(successor, victim, "another instance took the chain over");
    assert_eq!(receiver.unverified(), 0);
    drop(daemons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_instance_takes_payments_that_a_scanner_instance_follows() {
    let chain = TestChain::start(31337).await;
    let options = AppOptions::new(Backend::Postgres, &chain);
    let mut api_env = TestEnv::new(&options).await;
    api_env.env.insert("PAYSCAN_ROLE".into(), "api".into());
    let api_env = Arc::new(api_env);
    let (api, app) = Daemon::start(api_env.clone()).await;
    let intent = app.intent("buyer-1", intent_body("offer-role", "1", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(app.payment(&id).await["status"], "pending", "an API-only instance follows no chain");

    let mut scanner_env = TestEnv { env: api_env.env.clone(), ..TestEnv::new(&options).await };
    scanner_env.env.insert("PAYSCAN_ROLE".into(), "scanner".into());
    let (scanner, scanner_app) = Daemon::start(Arc::new(scanner_env)).await;
    app.wait_for_status(&id, "completed").await;
    // The scanner serves health and metrics, not the API.
    assert_eq!(scanner_app.get("/api/payment/health", None).await.0, StatusCode::OK);
    assert_eq!(
        scanner_app.get(&format!("/api/payment/{id}"), Some(&scanner_app.admin())).await.0,
        StatusCode::NOT_FOUND
    );
    drop((api, scanner));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_cron_is_switched_from_any_instance_and_sweeps_once() {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(Backend::Postgres, &chain);
    local_signer(&mut options);
    options.env.push(("PAYSCAN_SWEEP_INTERVAL", "200ms".to_owned()));
    let mut api_env = TestEnv::new(&options).await;
    api_env.env.insert("PAYSCAN_ROLE".into(), "api".into());
    let api_env = Arc::new(api_env);
    let (api_daemon, api) = Daemon::start(api_env.clone()).await;
    let mut scanners = Vec::new();
    for _ in 0..2 {
        let mut env = TestEnv { env: api_env.env.clone(), ..TestEnv::new(&options).await };
        env.env.insert("PAYSCAN_ROLE".into(), "all".into());
        scanners.push(Daemon::start(Arc::new(env)).await);
    }
    let store = Store::connect(&api_env.db.url).await.expect("store");
    wait_until("the chain leased", || async { holder_of(&store, 31337).await.is_some() }).await;
    let intent = completed(&api, &chain, "offer-cron", "1", "USDC").await;
    let destination = address(&intent["destination"]);
    let master: alloy::primitives::Address = MASTER.parse().expect("address");
    let provider = chain.anvil.provider();
    // The instances share the API instance's settings, its JWT secret among them.
    let admin = api.admin();

    // Started on the API instance, which runs no cron itself: every instance sees it running.
    let (status, started) =
        api.post("/api/payment/derived-destinations/cron/start", Some(&api.admin()), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    for (_, app) in &scanners {
        let (_, seen) = app.get("/api/payment/derived-destinations/cron/status", Some(&admin)).await;
        assert_eq!(seen["data"]["running"], true, "{seen}");
    }
    let id: payscan_core::PaymentId = intent["paymentId"].as_str().expect("id").parse().expect("id");
    // Recorded, not only mined: the money reaches the master a moment before the sweep's record.
    wait_until("the cron swept", || async {
        store.destination(&id).await.expect("read").is_some_and(|d| d.sweep_count >= 1)
    })
    .await;
    // Stopped from another instance.
    let (_, app) = &scanners[1];
    let (_, stopped) = app.post("/api/payment/derived-destinations/cron/stop", Some(&admin), &json!({})).await;
    assert_eq!(stopped["data"]["running"], false, "{stopped}");
    let (_, seen) = api.get("/api/payment/derived-destinations/cron/status", Some(&api.admin())).await;
    assert_eq!(seen["data"]["running"], false, "{seen}");
    assert!(seen["data"]["lastRun"]["at"].is_string(), "the run is visible from any instance: {seen}");

    let swept = store.destination(&id).await.expect("read").expect("destination");
    assert_eq!(swept.sweep_count, 1, "swept once, by one instance");
    assert_eq!(payscan::devchain::balance_of(provider, chain.usdc, destination).await.expect("balance"), U256::ZERO);
    assert_eq!(
        payscan::devchain::balance_of(provider, chain.usdc, master).await.expect("balance"),
        U256::from(1_000_000u64)
    );
    drop((api_daemon, scanners));
}

/// Deliveries claimed and not finished: `(webhook-id, claim token, lease end in ms)`.
async fn leased(store: &Store) -> Vec<(String, i64, i64)> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT e.id, d.claim_token, d.lease_until FROM webhook_deliveries d JOIN outbox_events e ON e.ord = d.event_ord \
         WHERE d.status = 'pending' AND d.lease_until > $1",
    )
    .bind(payscan_core::clock::now_ms())
    .fetch_all(store.pool())
    .await
    .expect("leased deliveries");
    rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_drain_a_thousand_events_without_overlap_when_one_dies() {
    const EVENTS: usize = 1_000;
    const SLOTS: usize = 10;
    let chain = TestChain::start(31337).await;
    let port = ReservedPort::new();
    let mut options = AppOptions::new(Backend::Postgres, &chain);
    options.targets = vec![port.url()];
    options.self_webhook = false;
    // Few slots per instance and a target that takes its time: the drain lasts seconds, every
    // instance has claims out, and an id sent by two at once would be seen overlapping.
    options.env.push(("PAYSCAN_WEBHOOK_CONCURRENCY", SLOTS.to_string()));
    let env = Arc::new(TestEnv::new(&options).await);
    let answering = Answering { delay: Duration::from_millis(300), ..Default::default() };
    let receiver = Receiver::start_answering(port, &env.webhook_secret, answering).await;
    let store = Store::connect(&env.db.url).await.expect("store").with_webhook_targets(vec![receiver.url.clone()]);

    let mut daemons = Vec::new();
    for _ in 0..3 {
        daemons.push(Daemon::start(env.clone()).await);
    }
    let mut ids = HashSet::new();
    for _ in 0..EVENTS / 100 {
        let mut tx = store.begin().await.expect("begin");
        for _ in 0..100 {
            let event = event_about(&PaymentId::new(), EventKind::Processing);
            let now = payscan_core::clock::now_ms();
            let id = store.enqueue_event(&mut tx, &event, now).await.expect("event");
            ids.insert(id.to_string());
        }
        store.commit_with_events(tx).await.expect("commit");
    }

    // A quarter drained, and more deliveries out than two instances may have: the one killed
    // has some in flight.
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.arrivals().len() < EVENTS / 4 || receiver.in_flight() <= 2 * SLOTS {
        assert!(Instant::now() < deadline, "the three instances never had their slots full together");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (victim, _) = daemons.remove(0);
    victim.kill9();
    let (killed_at, killed_ms) = (Instant::now(), payscan_core::clock::now_ms());
    let at_kill = receiver.arrivals().len();
    assert!(at_kill < EVENTS, "the drain was over before the kill");
    // The claims still out after the survivors' attempts (300 ms each) have ended are the dead
    // instance's: the same claim, still leased, a while later.
    let out_then = leased(&store).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let out_now = leased(&store).await;
    let orphaned: Vec<&(String, i64, i64)> = out_then.iter().filter(|claim| out_now.contains(claim)).collect();
    assert!(!orphaned.is_empty(), "the killed instance left no claim behind");

    wait_until("every event delivered", || async { receiver.arrivals().len() >= EVENTS }).await;
    wait_until("every delivery recorded", || async {
        store.deliveries_in(DeliveryStatus::Delivered, 2 * EVENTS as i64).await.expect("deliveries").len() == EVENTS
    })
    .await;
    let arrivals = receiver.arrivals();
    let delivered: HashSet<String> = arrivals.keys().cloned().collect();
    assert_eq!(delivered, ids, "every event reached the target, and nothing else did");
    assert!(store.deliveries_in(DeliveryStatus::Pending, 10).await.expect("deliveries").is_empty());
    assert!(store.deliveries_in(DeliveryStatus::ManualReview, 10).await.expect("deliveries").is_empty());
    assert_eq!(receiver.unverified(), 0);
    assert!(receiver.overlapping().is_empty(), "delivered by two at once: {:?}", receiver.overlapping());

    // What the dead instance had claimed came back once its leases ran out, not before, not later.
    // The dead instance's own attempts were signed before the kill; one the target answered and
    // the instance died before recording is a repeat by design, so the takeover is the first
    // arrival signed after the kill.
    let killed_s = killed_ms / 1000;
    let mut takeover: HashMap<String, Instant> = HashMap::new();
    for arrival in receiver.all_arrivals() {
        if arrival.timestamp.parse::<i64>().is_ok_and(|signed| signed > killed_s) {
            takeover.entry(arrival.id).or_insert(arrival.at);
        }
    }
    let tolerance = Duration::from_secs(5);
    for (id, _, lease_until) in &orphaned {
        let expiry = killed_at + Duration::from_millis(u64::try_from(lease_until - killed_ms).unwrap_or(0));
        let at = *takeover.get(id).unwrap_or_else(|| panic!("{id} was never sent again after the kill"));
        assert!(
            at + Duration::from_millis(50) >= expiry,
            "{id} was taken over {:?} before its lease ran out",
            expiry - at
        );
        assert!(at <= expiry + tolerance, "{id} came {:?} after its lease ran out", at - expiry);
    }
    // Only the dead instance's claims came again, each once more: what it had in flight, and what
    // was answered but not yet recorded when it died.
    let orphaned_ids: HashSet<&str> = orphaned.iter().map(|(id, _, _)| id.as_str()).collect();
    let again: Vec<(&String, &usize)> = arrivals.iter().filter(|(_, n)| **n > 1).collect();
    for (id, times) in &again {
        assert!(orphaned_ids.contains(id.as_str()), "{id} came {times} times and was not the dead instance's");
        assert_eq!(**times, 2, "{id} came {times} times");
    }
    drop(daemons);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_on_an_api_instance_is_followed_by_the_scanner_instance_only() {
    let (one, two) = (TestChain::start(31337).await, TestChain::start(31338).await);
    let options = AppOptions::new(Backend::Postgres, &one);
    let mut api_env = TestEnv::new(&options).await;
    api_env.env.insert("PAYSCAN_ROLE".into(), "api".into());
    let api_env = Arc::new(api_env);
    let (api_daemon, api) = Daemon::start(api_env.clone()).await;
    let mut scanner_env = TestEnv { env: api_env.env.clone(), ..TestEnv::new(&options).await };
    scanner_env.env.insert("PAYSCAN_ROLE".into(), "scanner".into());
    let (scanner, _) = Daemon::start(Arc::new(scanner_env)).await;
    let store = Store::connect(&api_env.db.url).await.expect("store");
    wait_until("the first chain leased", || async { holder_of(&store, 31337).await.is_some() }).await;

    // Both instances read the same files; the second chain is added and the API instance reloads.
    write_registry(&api_env.dir.0, &[one.registry_entries(), two.registry_entries()]);
    let admin = api.admin();
    let (status, reloaded) = api.post("/api/admin/rn/networks/reload", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{reloaded}");
    assert_eq!(reloaded["data"]["chainCount"], 2, "{reloaded}");
    assert_eq!(reloaded["data"]["followers"]["started"], json!([]), "an API instance starts no follower: {reloaded}");

    // The API instance serves the new chain at once; the scanner instance follows it.
    let intent = api.intent("buyer-2", intent_body("offer-two", "1", "USDC", &two)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    two.pay(two.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    two.mine(THRESHOLD).await;
    let paid = api.wait_for_status(&id, "completed").await;
    assert_eq!(paid["transfers"].as_array().map(Vec::len), Some(1), "credited once: {paid:#}");

    // Every lease is the scanner's, held and renewed; the API instance runs no follower.
    let leases = store.leases().await.expect("leases");
    assert_eq!(leases.len(), 2, "{leases:?}");
    for chain in [31337, 31338] {
        assert_eq!(holder_of(&store, chain).await, Some(scanner.pid()), "{leases:?}");
    }
    let (_, status) = api.get("/api/admin/scanner/status", Some(&admin)).await;
    assert_eq!(status["data"]["chains"], json!([]), "the API instance follows nothing: {status}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let renewed = store.leases().await.expect("leases");
    let now = payscan_core::clock::now_ms();
    assert!(renewed.iter().all(|(_, _, until)| *until > now), "leases are renewed past their 2 s: {renewed:?}");
    drop((api_daemon, scanner));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_whose_lease_is_taken_over_stops_before_committing() {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(Backend::Postgres, &chain);
    // Renewals 20 s apart: the takeover is met by the follower's own commit, not by a renewal.
    options.env.push(("PAYSCAN_LEASE_TTL", "60s".to_owned()));
    let app = TestApp::spawn(options).await;
    let store = Store::connect(&app.env.db.url).await.expect("store");
    let id31337 = ChainId(31337);
    wait_until("the chain followed", || async { store.checkpoint(id31337).await.expect("cursor").is_some() }).await;
    let intent = app.intent("buyer-1", intent_body("offer-lease", "1", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();

    // Another instance holds the lease now, as after this one's lapsed.
    let ours = store.leases().await.expect("leases")[0].1.clone();
    loop {
        store.release_lease(id31337, &ours).await.expect("release");
        let now = payscan_core::clock::now_ms();
        if store.try_lease(id31337, "another-instance", 600_000, now).await.expect("take over") {
            break;
        }
    }
    let cursor = store.checkpoint(id31337).await.expect("cursor").expect("a cursor");
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    chain.mine(THRESHOLD).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let after = store.checkpoint(id31337).await.expect("cursor").expect("a cursor");
    assert_eq!(after.number, cursor.number, "the ousted follower moved the cursor");
    let payment = app.payment(&id).await;
    assert_eq!(payment["status"], "pending", "the ousted follower credited: {payment:#}");
    assert_eq!(payment["transfers"].as_array().map(Vec::len).unwrap_or(0), 0, "{payment:#}");
    let leases = store.leases().await.expect("leases");
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0].1, "another-instance", "{leases:?}");

    // It says so: in the scanner status and in the follower error metric.
    let (_, status) = app.get("/api/admin/scanner/status", Some(&app.admin())).await;
    let state = &status["data"]["chains"][0];
    assert_eq!(state["state"], "stopped", "{status}");
    assert!(state["lastError"].as_str().unwrap_or_default().contains("lease"), "{status}");
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.expect("metrics");
    let metrics = metrics.text().await.expect("metrics text");
    assert!(
        metrics.lines().any(|l| l.starts_with("payscan_follower_errors_total")
            && l.contains("kind=\"lease_lost\"")
            && l.contains("31337")),
        "{metrics}"
    );
    app.stop().await;
}
