//! Webhook dispatch: 10,000 outbox rows to a local receiver that answers 200 at once (alone, or
//! beside a second target that never answers), after 20 ms, or HTTP 500 one time in twenty;
//! deliveries per second and enqueue → receipt latency, on SQLite and PostgreSQL. The events are written the way payscan writes its own (an outbox
//! row and a delivery per target in one transaction) while the dispatcher runs.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use payscan_core::config::WebhookConfig;
use payscan_core::event::{EventKind, PaymentEvent, WebhookEvent};
use payscan_core::store::payments::TokenRef;
use payscan_core::store::Store;
use payscan_core::webhook::WebhookSecret;
use payscan_core::{clock, BaseUnits, ChainId, EscrowState, PaymentId, PaymentStatus, Provider};
use payscan_outbox::{Dispatcher, OutboxMetrics};
use tokio_util::sync::CancellationToken;

use crate::harness::{self, percentile, Backend, Database, Receiver, ReceiverMode};
use crate::report::Report;

/// Events per transaction for the backlog, as a busy follower commits a block's worth at a time.
const BATCH: usize = 100;
/// The steady flow after the backlog: this many events, ten every 10 ms (1,000 a second).
const STEADY: usize = 2_000;

/// Event `n`, a `payment.processing` as the follower writes one; its purchase request id carries
/// `n` so that the receiver can tell which commit it belongs to.
fn event(n: usize) -> WebhookEvent {
    let payment_id = PaymentId::new();
    WebhookEvent::Payment(PaymentEvent {
        kind: EventKind::Processing,
        intent_id: payment_id.clone(),
        payment_id,
        provider: Provider::AmnScanner,
        status: PaymentStatus::Processing,
        escrow_state: EscrowState::Unfunded,
        tx_hash: None,
        transaction_hash: None,
        chain_id: ChainId(31337),
        confirmations: 1,
        threshold: 12,
        amount: "2".into(),
        amount_base_units: BaseUnits(U256::from(2_000_000u64)),
        amount_received: "2".into(),
        amount_received_base_units: BaseUnits(U256::from(2_000_000u64)),
        overpaid_base_units: BaseUnits::ZERO,
        underpaid: false,
        transaction_safety: None,
        token: TokenRef { symbol: "USDC".into(), address: Address::with_last_byte(0xc0), decimals: 6 },
        destination: Address::with_last_byte(0xde),
        purchase_request_id: format!("bench-{n}"),
        seller_offer_id: "offer-bench".into(),
        seller_id: "seller-bench".into(),
        buyer_id: "buyer-bench".into(),
        occurred_at: clock::rfc3339(clock::now_ms()),
        transfer: None,
        reverted_transfers: None,
        settlement: None,
        reason: None,
    })
}

/// Writes events `from..to`, `per_tx` to a transaction, one transaction every `pace`; returns
/// each event's commit instant.
async fn write(
    store: &Store,
    from: usize,
    to: usize,
    per_tx: usize,
    pace: Option<Duration>,
) -> anyhow::Result<Vec<Instant>> {
    let mut committed = Vec::with_capacity(to - from);
    for first in (from..to).step_by(per_tx) {
        let last = (first + per_tx).min(to);
        let mut tx = store.begin().await?;
        for n in first..last {
            store.enqueue_event(&mut tx, &event(n), clock::now_ms()).await?;
        }
        store.commit_with_events(tx).await?;
        committed.extend(std::iter::repeat_n(Instant::now(), last - first));
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
    }
    Ok(committed)
}

async fn wait_for(receiver: &Receiver, count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    while receiver.count() < count {
        anyhow::ensure!(Instant::now() < deadline, "only {} of {count} delivered", receiver.count());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(())
}

/// One run; with `hanging`, every event also goes to a second target that never answers, and
/// the figures are the healthy target's.
async fn one(backend: Backend, mode: ReceiverMode, events: usize, hanging: bool) -> anyhow::Result<Vec<String>> {
    let db = Database::fresh(backend).await?;
    let receiver = Receiver::start(mode).await?;
    let mut targets = vec![receiver.url.clone()];
    let hang = if hanging { Some(Receiver::start(ReceiverMode::Hang).await?) } else { None };
    targets.extend(hang.as_ref().map(|h| h.url.clone()));
    let store = Store::connect(&db.url).await?.with_webhook_targets(targets.clone());
    let config = WebhookConfig {
        secret: WebhookSecret::parse(&harness::webhook_secret()).map_err(|e| anyhow::anyhow!("{e}"))?,
        targets,
        self_target: false,
        retry: vec![Duration::from_millis(100); 5],
        timeout: Duration::from_secs(5),
        allow_networks: vec!["127.0.0.0/8".parse()?],
        concurrency: 256,
    };
    let metrics = OutboxMetrics::register(&prometheus::Registry::new())?;
    let dispatcher = Dispatcher::new(store.clone(), &config, metrics)?;

    // The backlog: every row written before the dispatcher starts, then drained.
    write(&store, 0, events, BATCH, None).await?;
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn(dispatcher.run(cancel.clone(), Duration::from_millis(50)));
    wait_for(&receiver, events).await?;
    let drained = receiver.arrivals().iter().map(|a| a.at).max().unwrap_or(started) - started;

    // Then a steady flow, to see how long one event waits.
    let committed = write(&store, events, events + STEADY, 10, Some(Duration::from_millis(10))).await?;
    wait_for(&receiver, events + STEADY).await?;
    cancel.cancel();
    running.await?;
    let mut latencies: Vec<f64> = receiver
        .arrivals()
        .iter()
        .filter_map(|a| {
            let n: usize = a.body["purchaseRequestId"].as_str()?.strip_prefix("bench-")?.parse().ok()?;
            let at = committed.get(n.checked_sub(events)?)?;
            Some(harness::millis(a.at.saturating_duration_since(*at)))
        })
        .collect();
    let p50 = percentile(&mut latencies, 50.0);
    let p99 = percentile(&mut latencies, 99.0);
    store.close().await;
    db.drop_database().await?;
    let mode = match (mode, hanging) {
        (ReceiverMode::Ok, false) => "200",
        (ReceiverMode::Ok, true) => "200, beside a target that never answers",
        (ReceiverMode::Slow, _) => "200 after 20 ms",
        (ReceiverMode::Flaky, _) => "5% HTTP 500 (retried after 100 ms)",
        (ReceiverMode::Hang, _) => "never answers",
    };
    Ok(vec![
        backend.name().to_owned(),
        mode.to_owned(),
        format!("{:.0}", events as f64 / drained.as_secs_f64()),
        format!("{p50:.0}"),
        format!("{p99:.0}"),
    ])
}

pub async fn run(report: &mut Report, events: usize) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for backend in Backend::BOTH {
        for (mode, hanging) in [
            (ReceiverMode::Ok, false),
            (ReceiverMode::Ok, true),
            (ReceiverMode::Slow, false),
            (ReceiverMode::Flaky, false),
        ] {
            rows.push(one(backend, mode, events, hanging).await?);
        }
    }
    report.section("Webhook dispatch");
    report.line(&format!(
        "A backlog of {events} outbox rows (written {BATCH} to a transaction the way payscan writes its \
         own events) drained by the dispatcher (claims of 256 with at most 256 in flight per target, \
         delivered concurrently, each signed afresh, outcomes committed as they end, 25 ms at a \
         time): deliveries/s from its start to the last receipt. Then {STEADY} more at 1,000 a \
         second while it runs: latency from an event's commit to its receipt. The run beside a \
         target that never answers (every event goes to both; the hanging one times out after \
         5 s) gives the healthy target's figures. Target: ≥ 5,000 deliveries/s."
    ));
    report.table(&["database", "receiver", "backlog deliveries/s", "steady p50 ms", "steady p99 ms"], rows);
    Ok(())
}
