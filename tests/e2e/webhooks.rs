//! Webhook delivery and payscan's own receiver.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use payscan_core::config::WebhookConfig;
use payscan_core::event::EventKind;
use payscan_core::store::outbox::AttemptOutcome;
use payscan_core::store::{DeliveryStatus, Store};
use payscan_core::webhook::WebhookSecret;
use payscan_core::PaymentId;
use payscan_outbox::{DispatchOutcome, Dispatcher, OutboxMetrics};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

both_backends!(a_target_that_is_down_gets_the_event_when_it_comes_back, |backend| async move {
    let chain = TestChain::start(31337).await;
    // Bound, not listening: deliveries are refused until the receiver listens on it.
    let port = ReservedPort::new();
    let port_number = port.port;
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![port.url()];
    // A long tail: on a loaded machine an answer may outlast the 2 s timeout now and then.
    options.retry = "300ms,600ms,1s,2s,4s,8s,8s";
    let app = TestApp::spawn(options).await;

    let intent = app.intent("buyer-1", intent_body("offer-down", "2", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(2_000_000u64)).await;
    // The first attempt to the peer fails (nothing listens), payscan's own receiver gets it.
    app.wait_for(&id, "a failed attempt", |p| {
        p["webhooks"]
            .as_array()
            .is_some_and(|w| w.iter().any(|d| d["status"] == "pending" && d["attempts"].as_u64() >= Some(1)))
    })
    .await;

    let receiver = Receiver::start_on(port, &app.webhook_secret).await;
    let delivered = receiver.wait_for(&id, "payment.processing").await;
    let payment = app.wait_for_deliveries(&id, 2).await;
    let peer = payment["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .find(|w| w["target"].as_str().is_some_and(|t| t.ends_with(&format!(":{port_number}/hook"))))
        .cloned()
        .expect("peer delivery");
    assert_eq!(peer["status"], "delivered", "{peer}");
    assert!(peer["attempts"].as_u64() >= Some(2), "{peer}");
    // Same event, same id, at every target and on every attempt.
    assert_eq!(peer["webhookId"].as_str(), Some(delivered.id.as_str()));
    app.stop().await;
});

both_backends!(exhausted_retries_end_in_manual_review, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.retry = "100ms,100ms,100ms";
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;
    receiver.set_failing(true);

    let intent = app.intent("buyer-1", intent_body("offer-review", "2", "USDC", &chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(2_000_000u64)).await;
    let payment = app.wait_for_deliveries(&id, 2).await;
    let webhooks = payment["webhooks"].as_array().expect("webhooks");
    let peer = webhooks.iter().find(|w| w["target"] == receiver.url).expect("peer delivery");
    assert_eq!(peer["status"], "manual_review");
    assert_eq!(peer["attempts"], 4, "one attempt and three retries: {peer}");
    assert_eq!(peer["lastStatus"], 500);
    let own = webhooks.iter().find(|w| w["target"] != receiver.url).expect("own delivery");
    assert_eq!(own["status"], "delivered");

    // Nothing more is sent once in manual review, even when the target recovers.
    receiver.set_failing(false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.deliveries().is_empty());
    app.stop().await;
});

type Headers = Vec<(&'static str, String)>;
/// What is sent (headers and body), and the status and error code it is answered with.
type Case = (Headers, String, StatusCode, &'static str);

/// Signs like any Standard Webhooks sender, with the independent crate.
fn signed(secret: &str, id: &str, timestamp: i64, body: &str) -> Headers {
    let webhook = standardwebhooks::Webhook::new(secret).expect("secret");
    let signature = webhook.sign(id, timestamp, body.as_bytes()).expect("sign");
    vec![("webhook-id", id.to_owned()), ("webhook-timestamp", timestamp.to_string()), ("webhook-signature", signature)]
}

async fn deliver(app: &TestApp, headers: Headers, body: &str) -> (StatusCode, Value) {
    let mut request = app
        .http
        .post(format!("{}/api/payment/amn-scanner/webhook", app.url))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

both_backends!(the_receiver_verifies_dedupes_and_refuses, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.self_webhook = false;
    let app = TestApp::spawn(options).await;
    // A body as payscan sends it: the event an admin's cancel wrote to the outbox.
    let id = cancelled_payment(&app, &chain, "offer-recv").await;
    let store = Store::connect(&app.env.db.url).await.expect("store");
    let (_, event_type, body) = store.events_after(&id, 0, 10).await.expect("events").first().cloned().expect("event");
    assert_eq!(event_type, "payment.cancelled");
    let now = payscan_core::clock::now_ms() / 1000;
    let secret = app.webhook_secret.clone();

    let (status, answer) = deliver(&app, signed(&secret, "msg_peer_1", now, &body), &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["data"]["status"], "processed");
    // A retry: same id, re-signed with a later timestamp. Deduped, not processed again.
    let (status, answer) = deliver(&app, signed(&secret, "msg_peer_1", now + 120, &body), &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["data"]["status"], "duplicate");

    // The real body with one change, signed as it is.
    let altered = |change: &dyn Fn(&mut Value)| {
        let mut event: Value = serde_json::from_str(&body).expect("json");
        change(&mut event);
        event.to_string()
    };
    let well_signed = |webhook_id: &str, body: String, expected: StatusCode, code: &'static str| {
        (signed(&secret, webhook_id, now, &body), body, expected, code)
    };
    let other_secret = payscan_core::webhook::WebhookSecret::generate();
    let mut cases: Vec<(&str, Case)> = vec![
        (
            "wrong secret",
            (signed(&other_secret, "msg_2", now, &body), body.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ),
        (
            "stale timestamp",
            (signed(&secret, "msg_3", now - 600, &body), body.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ),
        (
            "a timestamp at the end of time",
            (signed(&secret, "msg_3a", i64::MAX, &body), body.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ),
        (
            "a timestamp before any time",
            (signed(&secret, "msg_3b", i64::MIN, &body), body.clone(), StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
        ),
        (
            "a timestamp past any integer",
            (
                vec![
                    ("webhook-id", "msg_3c".into()),
                    ("webhook-timestamp", "99999999999999999999".into()),
                    ("webhook-signature", signed(&secret, "msg_3c", now, &body)[2].1.clone()),
                ],
                body.clone(),
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
            ),
        ),
        (
            "no signature",
            (
                vec![("webhook-id", "msg_4".into()), ("webhook-timestamp", now.to_string())],
                body.clone(),
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
            ),
        ),
        (
            "body changed after signing",
            (
                signed(&secret, "msg_5", now, &body),
                body.replace("cancelled", "completed"),
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
            ),
        ),
        ("not JSON", well_signed("msg_7", "intentId=1".into(), StatusCode::BAD_REQUEST, "MALFORMED_JSON")),
    ];
    // Signed correctly, but not an event payscan sends.
    let refused: Vec<(&str, String)> = vec![
        ("no intentId", r#"{"status":"completed"}"#.into()),
        ("an unknown type", altered(&|e: &mut Value| e["type"] = json!("payment.teleported"))),
        ("a payout's type on a payment's body", altered(&|e: &mut Value| e["type"] = json!("payout.completed"))),
        (
            "only the envelope's first fields",
            json!({ "intentId": id, "status": "cancelled", "type": "payment.cancelled" }).to_string(),
        ),
        (
            "a missing amount",
            altered(&|e: &mut Value| {
                e.as_object_mut().expect("object").remove("amountBaseUnits");
            }),
        ),
        ("base units as a JSON number", altered(&|e: &mut Value| e["amountBaseUnits"] = json!(2_000_000))),
        ("an unknown status", altered(&|e: &mut Value| e["status"] = json!("teleported"))),
        ("a malformed payment id", altered(&|e: &mut Value| e["intentId"] = json!("pay_1"))),
    ];
    for (n, (what, body)) in refused.into_iter().enumerate() {
        cases.push((what, well_signed(&format!("msg_6_{n}"), body, StatusCode::BAD_REQUEST, "VALIDATION_ERROR")));
    }
    let unknown = PaymentId::new();
    let unknown_payment = altered(&|e: &mut Value| {
        e["intentId"] = json!(unknown);
        e["paymentId"] = json!(unknown);
    });
    cases.push(("unknown payment", well_signed("msg_8", unknown_payment, StatusCode::NOT_FOUND, "NOT_FOUND")));
    for (what, (headers, body, expected, code)) in cases {
        let (status, answer) = deliver(&app, headers, &body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert_eq!(answer["success"], false, "{what}");
        assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
    }
    app.stop().await;
});

/// A payment cancelled by an admin: one `payment.cancelled` event, without a chain transfer.
async fn cancelled_payment(app: &TestApp, chain: &TestChain, offer: &str) -> String {
    let intent = app.intent("buyer-1", intent_body(offer, "2", "USDC", chain)).await;
    let id = intent["paymentId"].as_str().expect("id").to_owned();
    let response = app
        .http
        .put(format!("{}/api/payment/{id}", app.url))
        .bearer_auth(app.admin())
        .json(&json!({ "status": "cancelled" }))
        .send()
        .await
        .expect("edit");
    assert_eq!(response.status(), StatusCode::OK, "{:?}", response.text().await);
    id
}

fn delivery_to<'a>(payment: &'a Value, url: &str) -> &'a Value {
    payment["webhooks"]
        .as_array()
        .expect("webhooks")
        .iter()
        .find(|w| w["target"] == url)
        .unwrap_or_else(|| panic!("no delivery to {url}: {payment:#}"))
}

both_backends!(a_redirect_is_a_failed_attempt_and_its_destination_receives_nothing, |backend| async move {
    let chain = TestChain::start(31337).await;
    let elsewhere = Target::start(Behaviour::Ok).await;
    let mut redirects = Vec::new();
    for code in [301u16, 302, 307, 308] {
        redirects.push((code, Target::start(Behaviour::Redirect(code, elsewhere.url.clone())).await));
    }
    let mut options = AppOptions::new(backend, &chain);
    options.targets = redirects.iter().map(|(_, t)| t.url.clone()).collect();
    options.retry = "100ms";
    let app = TestApp::spawn(options).await;

    let id = cancelled_payment(&app, &chain, "offer-redirect").await;
    let payment = app.wait_for_deliveries(&id, 5).await;
    for (code, target) in &redirects {
        let delivery = delivery_to(&payment, &target.url);
        assert_eq!(delivery["status"], "manual_review", "{code}: {delivery}");
        assert_eq!(delivery["attempts"], 2, "{code}: one attempt and one retry, both failed: {delivery}");
        assert_eq!(delivery["lastStatus"], *code, "{delivery}");
        assert!(target.hits().iter().all(|h| h.method == "POST"), "{code}: {:?}", target.hits());
    }
    // Neither re-posted (307/308) nor turned into a GET (301/302): nothing went where they point.
    assert!(elsewhere.hits().is_empty(), "the redirect's destination got {:?}", elsewhere.hits());
    app.stop().await;
});

both_backends!(gone_ends_that_delivery_for_good_and_admins_see_it, |backend| async move {
    let chain = TestChain::start(31337).await;
    let gone = Target::start(Behaviour::Gone).await;
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![gone.url.clone()];
    options.retry = "100ms,100ms,100ms";
    let app = TestApp::spawn(options).await;

    let id = cancelled_payment(&app, &chain, "offer-gone").await;
    let payment = app.wait_for_deliveries(&id, 2).await;
    let delivery = delivery_to(&payment, &gone.url);
    assert_eq!(delivery["status"], "gone", "{delivery}");
    assert_eq!(delivery["attempts"], 1, "{delivery}");
    assert_eq!(delivery["lastStatus"], 410, "{delivery}");
    // Not retried: the schedule's 100 ms retries would have come by now.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let event_id = delivery["webhookId"].as_str().expect("webhook id");
    assert_eq!(gone.hits_of(event_id).len(), 1, "{:?}", gone.hits());
    assert_eq!(delivery_to(&app.payment(&id).await, &gone.url)["status"], "gone");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_payscan"))
        .args(["outbox", "list", "--status", "gone"])
        .current_dir(&app.env.dir.0)
        .env_clear()
        .envs(&app.env.env)
        .env("RUST_LOG", "error")
        .output()
        .expect("run payscan");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        listed.contains(&id) && listed.contains("payment.cancelled") && listed.contains("last_status=410"),
        "{listed}"
    );

    // The target stays configured: a later event is offered to it, and ends there too.
    let later = cancelled_payment(&app, &chain, "offer-gone-2").await;
    let payment = app.wait_for_deliveries(&later, 2).await;
    assert_eq!(delivery_to(&payment, &gone.url)["status"], "gone");
    assert_eq!(gone.hits().len(), 2, "{:?}", gone.hits());
    app.stop().await;
});

both_backends!(retry_after_on_429_is_waited_out, |backend| async move {
    let chain = TestChain::start(31337).await;
    let limited = Target::start(Behaviour::RateLimited { retry_after: 2, times: 1 }).await;
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![limited.url.clone()];
    options.retry = "100ms,100ms,100ms";
    let app = TestApp::spawn(options).await;

    let id = cancelled_payment(&app, &chain, "offer-429").await;
    let payment = app.wait_for_deliveries(&id, 2).await;
    let delivery = delivery_to(&payment, &limited.url);
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 2, "{delivery}");
    let hits = limited.hits();
    assert_eq!(hits.len(), 2, "{hits:?}");
    let waited = hits[1].at - hits[0].at;
    // The schedule says 100 ms; the target said 2 s.
    assert!(waited >= Duration::from_millis(1900), "retried after {waited:?}");
    assert!(waited < Duration::from_secs(6), "retried after {waited:?}");
    app.stop().await;
});

both_backends!(an_internal_target_is_refused_unless_allow_listed, |backend| async move {
    let chain = TestChain::start(31337).await;
    let receiver = Receiver::start("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").await;
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![receiver.url.clone()];
    // Without the test setup's loopback allow-list.
    options.env.push(("PAYSCAN_WEBHOOK_ALLOW_NETWORKS", String::new()));
    let env = TestEnv::new(&options).await;
    let refused = payscan_core::config::Config::from_sources(&env.env, None).expect_err("a loopback target refused");
    assert_eq!(refused.setting, "PAYSCAN_WEBHOOK_TARGETS");
    let line = refused.to_string();
    assert!(
        line.contains("127.0.0.1") && line.contains("loopback") && line.contains("PAYSCAN_WEBHOOK_ALLOW_NETWORKS"),
        "{line}"
    );

    // The cloud metadata address stays refused when loopback is allowed.
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec!["http://169.254.169.254/latest/meta-data".to_owned()];
    let env = TestEnv::new(&options).await;
    let refused = payscan_core::config::Config::from_sources(&env.env, None).expect_err("metadata refused");
    assert!(refused.to_string().contains("link-local"), "{refused}");
    receiver.stop();
});

both_backends!(a_hanging_target_costs_a_healthy_one_nothing, |backend| async move {
    let chain = TestChain::start(31337).await;
    let hanging = Target::start(Behaviour::Hang).await;
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![hanging.url.clone()];
    options.self_webhook = false;
    options.env.push(("PAYSCAN_WEBHOOK_TIMEOUT", "10s".to_owned()));
    let (app, receiver) = TestApp::spawn_with_receiver(options).await;

    // One event after another, each while the hanging target holds the ones before it.
    for n in 0..5 {
        let started = std::time::Instant::now();
        let id = cancelled_payment(&app, &chain, &format!("offer-hang-{n}")).await;
        receiver.wait_for(&id, "payment.cancelled").await;
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "event {n} reached the healthy target after {took:?}");
    }
    assert_eq!(hanging.hits().len(), 5, "the hanging target was offered every event: {:?}", hanging.hits());
    assert!(receiver.arrivals().values().all(|n| *n == 1));
    app.stop().await;
});

both_backends!(a_crash_during_a_slow_attempt_resends_nothing_that_succeeded, |backend| async move {
    let chain = TestChain::start(31337).await;
    let hanging = Target::start(Behaviour::Hang).await;
    let port = ReservedPort::new();
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![hanging.url.clone(), port.url()];
    options.self_webhook = false;
    options.env.push(("PAYSCAN_WEBHOOK_TIMEOUT", "3s".to_owned()));
    let env = Arc::new(TestEnv::new(&options).await);
    let receiver = Receiver::start_on(port, &env.webhook_secret).await;
    let (daemon, app) = Daemon::start(env.clone()).await;

    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(cancelled_payment(&app, &chain, &format!("offer-crash-{n}")).await);
    }
    for id in &ids {
        receiver.wait_for(id, "payment.cancelled").await;
    }
    // Delivered to the healthy target and recorded; the hanging target's attempts are still out.
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.kill9();

    let (_daemon, _app) = Daemon::start(env.clone()).await;
    // The killed instance's leases run out (3 s + 5 s) and its unfinished attempts are made again.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while hanging.hits().len() < 2 * ids.len() {
        assert!(std::time::Instant::now() < deadline, "the hanging target was not offered the events again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), ids.len(), "{arrivals:?}");
    assert!(arrivals.values().all(|n| *n == 1), "the healthy target got deliveries again: {arrivals:?}");
});

/// A dispatcher of its own on `store`, as one instance of a cluster runs it, with no receiver of
/// its own: deliveries go to the store's targets only.
fn dispatcher(store: &Store, secret: &str, retry: Vec<Duration>) -> (Dispatcher, OutboxMetrics) {
    payscan::telemetry::init_for_tests();
    payscan::telemetry::install_tls_provider();
    let config = WebhookConfig {
        secret: WebhookSecret::parse(secret).expect("secret"),
        targets: Vec::new(),
        self_target: false,
        retry,
        timeout: Duration::from_secs(5),
        allow_networks: vec!["127.0.0.0/8".parse().expect("network")],
        concurrency: 16,
    };
    let metrics = OutboxMetrics::register(&prometheus::Registry::new()).expect("metrics");
    (Dispatcher::new(store.clone(), &config, metrics.clone()).expect("dispatcher"), metrics)
}

/// Writes one event about `subject` to the outbox.
async fn enqueue(store: &Store, subject: &PaymentId) {
    let mut tx = store.begin().await.expect("begin");
    let event = event_about(subject, EventKind::Processing);
    store.enqueue_event(&mut tx, &event, payscan_core::clock::now_ms()).await.expect("enqueue");
    store.commit_with_events(tx).await.expect("commit");
}

both_backends!(an_attempt_that_outlived_its_claim_does_not_overwrite_the_next_claims_outcome, |backend| async move {
    let dir = TempDir::new();
    let db = Database::fresh(backend, &dir).await;
    let secret = WebhookSecret::generate();
    // The first arrival is refused, slowly: it outlives the first claim's lease.
    let answering = Answering { fail_first: 1, refuse_delay: Duration::from_secs(2), ..Default::default() };
    let receiver = Receiver::start_answering(ReservedPort::new(), &secret, answering).await;
    let store = Store::connect(&db.url).await.expect("store").with_webhook_targets(vec![receiver.url.clone()]);
    let retry = vec![Duration::from_millis(100); 3];
    // Two instances on one database; the first holds its claims for 300 ms only.
    let (first, first_metrics) = dispatcher(&store, &secret, retry.clone());
    let first = first.with_lease(Duration::from_millis(300));
    let (second, _) = dispatcher(&store, &secret, retry);
    let subject = PaymentId::new();
    enqueue(&store, &subject).await;

    let claimed = first.claim().await.expect("claim");
    assert_eq!(claimed.len(), 1);
    let slow = claimed[0].delivery.clone();
    let attempt = tokio::spawn({
        let first = first.clone();
        async move {
            let outcome = first.deliver(&slow).await;
            (slow, outcome)
        }
    });
    // The lease runs out while the first attempt waits for its answer; the second instance
    // claims the delivery and gets it through.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let taken = second.claim().await.expect("claim");
    assert_eq!(taken.len(), 1, "the lapsed claim is taken over");
    let fast = taken[0].delivery.clone();
    let outcome = second.deliver(&fast).await;
    assert!(matches!(outcome, AttemptOutcome::Delivered { status: 200 }), "{outcome:?}");
    second.record(&[(fast, outcome)]).await.expect("record");
    drop(taken);

    // The first attempt ends in a failure, after the delivery succeeded.
    let (slow, outcome) = attempt.await.expect("attempt");
    assert!(matches!(outcome, AttemptOutcome::Failed { status: Some(500), .. }), "{outcome:?}");
    first.record(&[(slow, outcome)]).await.expect("record");
    drop(claimed);

    let delivered = store.deliveries_in(DeliveryStatus::Delivered, 10).await.expect("deliveries");
    assert_eq!(delivered.len(), 1, "the delivery stays delivered: {delivered:?}");
    let (_, record) = &delivered[0];
    assert_eq!((record.attempts, record.last_status, record.last_error.as_deref()), (2, Some(200), None), "{record:?}");
    assert!(store.deliveries_in(DeliveryStatus::Pending, 10).await.expect("deliveries").is_empty());
    assert_eq!(first_metrics.deliveries.with_label_values(&["superseded"]).get(), 1);
    // Nothing is due again: a failure written over the success would be retried after 100 ms.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(first.try_dispatch().await.expect("dispatch"), DispatchOutcome::Empty);
    assert_eq!(second.try_dispatch().await.expect("dispatch"), DispatchOutcome::Empty);
    let statuses: Vec<u16> = receiver.all_arrivals().iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses, [200, 500], "the fast answer came first, then the slow refusal, and nothing after");
    assert_eq!(receiver.events_for(subject.as_str()).len(), 1);
    receiver.stop();
});

both_backends!(a_failing_target_gets_the_same_event_signed_afresh_on_schedule_until_it_answers, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.self_webhook = false;
    // Each delay at least a second, so that each attempt's `webhook-timestamp` (in seconds) differs.
    let schedule = [1000u64, 1100, 1200, 1300, 1400].map(Duration::from_millis);
    options.retry = "1s,1100ms,1200ms,1300ms,1400ms";
    let answering = Answering { fail_first: 5, ..Default::default() };
    let (app, receiver) = TestApp::spawn_with_receiver_answering(options, answering).await;

    let id = cancelled_payment(&app, &chain, "offer-retries").await;
    let payment = app.wait_for_deliveries(&id, 1).await;
    let delivery = delivery_to(&payment, &receiver.url);
    assert_eq!(delivery["status"], "delivered", "{delivery}");
    assert_eq!(delivery["attempts"], 6, "five refusals, then the answer: {delivery}");
    assert_eq!(delivery["lastStatus"], 200, "{delivery}");

    let arrivals = receiver.all_arrivals();
    let statuses: Vec<u16> = arrivals.iter().map(|a| a.status.as_u16()).collect();
    assert_eq!(statuses, [500, 500, 500, 500, 500, 200], "{arrivals:?}");
    let webhook_id = delivery["webhookId"].as_str().expect("webhook id");
    let signer = standardwebhooks::Webhook::new(&app.webhook_secret).expect("secret");
    for arrival in &arrivals {
        assert_eq!(arrival.id, webhook_id, "the same webhook-id on every attempt");
        assert_eq!(arrival.body, arrivals[0].body, "the same body on every attempt");
        assert!(arrival.verified, "{arrival:?}");
        // Signed for its own timestamp, as an independent implementation signs it.
        let timestamp: i64 = arrival.timestamp.parse().expect("timestamp");
        assert_eq!(arrival.signature, signer.sign(webhook_id, timestamp, &arrival.body).expect("sign"));
    }
    let timestamps: std::collections::HashSet<&str> = arrivals.iter().map(|a| a.timestamp.as_str()).collect();
    let signatures: std::collections::HashSet<&str> = arrivals.iter().map(|a| a.signature.as_str()).collect();
    assert_eq!((timestamps.len(), signatures.len()), (6, 6), "each attempt signed afresh: {arrivals:?}");
    // At the schedule, stretched by at most 10 % plus what a loaded machine adds (the outcome's
    // commit and the dispatcher's next look at the queue).
    let tolerance = Duration::from_secs(1);
    for (n, (pair, delay)) in arrivals.windows(2).zip(schedule).enumerate() {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= delay, "retry {} came {gap:?} after the attempt before, sooner than {delay:?}", n + 1);
        assert!(gap <= delay + delay / 10 + tolerance, "retry {} came {gap:?} after the attempt before", n + 1);
    }
    app.stop().await;
});
