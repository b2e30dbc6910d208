//! payscan's background workers, one step at a time and without the daemon: each worker is built
//! from a store and the configuration as startup builds it, stepped once, and what the step wrote
//! is read back from the store. The follower credits and confirms a transfer, the dispatcher
//! delivers an outbox event (or schedules its retry), and the payout worker settles a payout
//! that a run sent.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use payscan::devchain;
use payscan_core::config::Config;
use payscan_core::event::{payment_event, EventKind};
use payscan_core::registry::{Chain, RegistrySource, SharedRegistry};
use payscan_core::store::outbound::OutboundStatus;
use payscan_core::store::payments::TokenRef;
use payscan_core::store::{DeliveryStatus, NewPayment, Payment, Rail, Store};
use payscan_core::{clock, BaseUnits, ChainId, PaymentStatus, PayoutStatus, Provider};
use payscan_custody::{Keys, NewPayout, OutboundSettings, PayoutSettings, Payouts};
use payscan_scanner::follower::TickOutcome;
use payscan_scanner::{Follower, FollowerContext, ScannerMetrics, ScannerStatus, WatchSet};
// The webhook dispatcher and what one round of it reports.
use payscan_outbox::{DispatchOutcome, Dispatcher, OutboxMetrics};

use crate::both_backends;
use crate::support::*;

/// What a worker is built from: the test's settings, a store on its own database, the registry.
struct Parts {
    env: TestEnv,
    config: Config,
    store: Store,
    registry: SharedRegistry,
}

impl Parts {
    async fn new(options: &AppOptions<'_>) -> Self {
        payscan::telemetry::install_tls_provider();
        let env = TestEnv::new(options).await;
        let config = Config::from_sources(&env.env, None).expect("test config");
        let store = Store::connect(&env.db.url).await.expect("store");
        let source = RegistrySource {
            chains: config.chains_path.clone(),
            tokens: config.tokens_path.clone(),
            rpc_overrides: config.rpc_overrides.clone(),
        };
        let registry = SharedRegistry::new(source.load().expect("registry"));
        Self { env, config, store, registry }
    }

    fn chain(&self, chain: &TestChain) -> Chain {
        self.registry.current().chain(ChainId(chain.chain_id)).expect("the test chain").clone()
    }

    fn usdc(&self, chain: &TestChain) -> TokenRef {
        let chain = self.chain(chain);
        let token = chain.tokens.iter().find(|t| t.symbol == "USDC").expect("USDC");
        TokenRef { symbol: token.symbol.clone(), address: token.address, decimals: token.decimals }
    }

    /// A pending payment of `amount` USDC base units at `destination`, as an intent writes it.
    async fn payment(&self, chain: &TestChain, destination: Address, amount: u64) -> Payment {
        let new = NewPayment {
            buyer_id: "buyer-1".into(),
            seller_id: "seller-1".into(),
            seller_offer_id: "offer-1".into(),
            purchase_request_id: "pr-1".into(),
            rail: Rail {
                provider: Provider::AmnScanner,
                chain_id: ChainId(chain.chain_id),
                token: self.usdc(chain),
                amount: BaseUnits(U256::from(amount)),
            },
            metadata: serde_json::json!({}),
            expires_at: clock::now_ms() + 3_600_000,
            rn_payee: None,
        };
        let mut tx = self.store.begin().await.expect("begin");
        let index = self.store.allocate_derivation_index(&mut tx).await.expect("index");
        let payment =
            self.store.insert_payment(&mut tx, new, index, destination, clock::now_ms()).await.expect("insert");
        tx.commit().await.expect("commit");
        payment
    }

    async fn status(&self, payment: &Payment) -> PaymentStatus {
        self.store.payment(&payment.id).await.expect("read").expect("payment").status
    }

    /// The types of the outbox events about `subject`, oldest first.
    async fn events(&self, subject: &str) -> Vec<String> {
        let events = self.store.events_after(subject, 0, 100).await.expect("events");
        events.into_iter().map(|(_, event_type, _)| event_type).collect()
    }
}

/// A follower for the test chain, built as the supervisor builds one.
fn follower(parts: &Parts, chain: &TestChain) -> Follower {
    let context = FollowerContext {
        store: parts.store.clone(),
        watch: Arc::new(WatchSet::with_window(parts.config.watch_window)),
        metrics: ScannerMetrics::register(&prometheus::Registry::new()).expect("metrics"),
        status: Arc::new(ScannerStatus::new()),
        settings: parts.config.scanner.clone(),
    };
    Follower::new(parts.chain(chain), context).expect("follower")
}

both_backends!(the_follower_credits_a_transfer_then_completes_it_at_the_threshold, |backend| async move {
    let chain = TestChain::start(31337).await;
    let parts = Parts::new(&AppOptions::new(backend, &chain)).await;
    let mut follower = follower(&parts, &chain);
    let destination = Address::repeat_byte(0xd1);
    let payment = parts.payment(&chain, destination, 5_000_000).await;
    let subject = payment.id.as_str();

    let paid = chain.pay(chain.usdc, destination, U256::from(5_000_000u64)).await;
    let head = chain.anvil.head().await.expect("head");
    // A chain seen for the first time is scanned from one range behind its head, so this first
    // tick reaches the transfer: two USDC logs (the payer's mint and the payment), one credit.
    let outcome = follower.tick().await.expect("tick");
    assert_eq!(outcome, TickOutcome::Advanced { from: 1, to: head, head, logs: 2, credits: 1 });
    assert_eq!(parts.status(&payment).await, PaymentStatus::Processing);
    assert_eq!(parts.events(subject).await, ["payment.processing"]);

    // The transfer's block counts as its first confirmation: the threshold is reached
    // THRESHOLD - 1 blocks later.
    chain.mine(THRESHOLD - 1).await;
    let outcome = follower.tick().await.expect("tick");
    let to = head + THRESHOLD - 1;
    assert_eq!(outcome, TickOutcome::Advanced { from: head + 1, to, head: to, logs: 0, credits: 0 });
    let completed = parts.store.payment(&payment.id).await.expect("read").expect("payment");
    assert_eq!((completed.status, completed.confirmations), (PaymentStatus::Completed, THRESHOLD));
    assert_eq!((completed.received, completed.tx_hash), (BaseUnits(U256::from(5_000_000u64)), Some(paid)));
    assert_eq!(parts.events(subject).await, ["payment.processing", "payment.completed"]);

    // Nothing new on the chain: the tick says so and writes nothing.
    assert_eq!(follower.tick().await.expect("tick"), TickOutcome::AtHead { head: to });
    assert_eq!(parts.events(subject).await, ["payment.processing", "payment.completed"]);
    assert_eq!(parts.status(&payment).await, PaymentStatus::Completed);
});

/// The delivery rows of `payment`'s events: (status, attempts, last HTTP status).
async fn deliveries(store: &Store, payment: &Payment) -> Vec<(DeliveryStatus, i64, Option<i64>)> {
    let records = store.deliveries_of(&payment.id).await.expect("deliveries");
    records.into_iter().map(|d| (d.status, d.attempts, d.last_status)).collect()
}

/// A store delivering to `receiver`, a dispatcher over it, and one event queued about a payment.
async fn queued(parts: &Parts, chain: &TestChain, receiver: &Receiver) -> (Dispatcher, Payment) {
    let store = parts.store.clone().with_webhook_targets(vec![receiver.url.clone()]);
    let metrics = OutboxMetrics::register(&prometheus::Registry::new()).expect("metrics");
    let dispatcher = Dispatcher::new(store.clone(), &parts.config.webhook, metrics).expect("dispatcher");
    let payment = parts.payment(chain, Address::repeat_byte(0xd2), 1_000_000).await;
    let now = clock::now_ms();
    let mut tx = store.begin().await.expect("begin");
    // Any event does; a cancellation needs no transfer behind it.
    let event = payment_event(EventKind::Cancelled, &payment, THRESHOLD, None, now);
    store.enqueue_event(&mut tx, &event, now).await.expect("enqueue");
    store.commit_with_events(tx).await.expect("commit");
    (dispatcher, payment)
}

both_backends!(one_dispatch_round_delivers_a_queued_event_once, |backend| async move {
    let chain = TestChain::start(31337).await;
    let parts = Parts::new(&AppOptions::new(backend, &chain)).await;
    let receiver = Receiver::start(&parts.env.webhook_secret).await;
    let (dispatcher, payment) = queued(&parts, &chain, &receiver).await;

    assert_eq!(dispatcher.try_dispatch().await.expect("round"), DispatchOutcome::Attempted(1));
    let got = receiver.events_for(payment.id.as_str());
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].event_type, "payment.cancelled");
    assert_eq!(receiver.all_arrivals().len(), 1);
    assert_eq!(receiver.unverified(), 0);
    assert_eq!(deliveries(&parts.store, &payment).await, [(DeliveryStatus::Delivered, 1, Some(200))]);

    // Delivered is done: the next round finds nothing due.
    assert_eq!(dispatcher.try_dispatch().await.expect("round"), DispatchOutcome::Empty);
    assert_eq!(receiver.all_arrivals().len(), 1);
});

both_backends!(one_dispatch_round_against_a_failing_target_schedules_the_retry, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    options.retry = "1h";
    let parts = Parts::new(&options).await;
    let receiver = Receiver::start(&parts.env.webhook_secret).await;
    receiver.set_failing(true);
    let (dispatcher, payment) = queued(&parts, &chain, &receiver).await;

    let before = clock::now_ms();
    assert_eq!(dispatcher.try_dispatch().await.expect("round"), DispatchOutcome::Attempted(1));
    let after = clock::now_ms();
    assert_eq!(receiver.all_arrivals().len(), 1);
    assert!(receiver.events_for(payment.id.as_str()).is_empty(), "a refused delivery is not processed");
    assert_eq!(deliveries(&parts.store, &payment).await, [(DeliveryStatus::Pending, 1, Some(500))]);
    let next: i64 = sqlx::query_scalar("SELECT next_attempt_at FROM webhook_deliveries WHERE payment_id = $1")
        .bind(payment.id.as_str())
        .fetch_one(parts.store.pool())
        .await
        .expect("next attempt");
    // The schedule's first delay, stretched by up to its jitter.
    assert!((before + 3_600_000..=after + 3_960_000).contains(&next), "next attempt at {next}");

    // Not due until then: the next round attempts nothing.
    assert_eq!(dispatcher.try_dispatch().await.expect("round"), DispatchOutcome::Empty);
    assert_eq!(receiver.all_arrivals().len(), 1);
});

/// The payout queue as startup builds it, signing with the test payout wallet. A run waits for
/// no receipt, so that settling is left to the worker's step.
fn payouts(parts: &Parts) -> Payouts {
    let keys = Arc::new(Keys::from_config(&parts.config.keys, &parts.config.custody).expect("keys"));
    let outbound = OutboundSettings {
        rpc_timeout: parts.config.scanner.rpc_timeout,
        max_fee_cap: parts.config.custody.max_fee_per_gas,
        replace_after: parts.config.custody.replace_after,
        ..OutboundSettings::default()
    };
    let settings =
        PayoutSettings { retry: parts.config.custody.payout_retry.clone(), minimums: Vec::new(), wait: Duration::ZERO };
    Payouts::new(parts.store.clone(), keys, parts.registry.clone(), outbound, settings)
}

both_backends!(a_sent_payout_completes_on_the_workers_step, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    let parts = Parts::new(&options).await;
    let payouts = payouts(&parts);
    let wallet: Address = PAYOUT_WALLET.parse().expect("address");
    let seller = Address::repeat_byte(0xc0);
    let amount = U256::from(5_000_000u64);
    chain.fund(chain.usdc, wallet, amount).await;
    let balance = || devchain::balance_of(chain.anvil.provider(), chain.usdc, seller);

    let new = NewPayout {
        user_id: "seller-7".into(),
        reference: "ref-1".into(),
        contract_id: None,
        reason: None,
        chain_id: ChainId(chain.chain_id),
        token: parts.usdc(&chain),
        recipient: seller,
        amount: BaseUnits(amount),
    };
    let payout = payouts.enqueue(new).await.expect("enqueue");
    assert_eq!(payout.status, PayoutStatus::Queued);

    // The worker's step settles what is in flight and retries what is due; a queued payout
    // waits for a run.
    payouts.step().await.expect("step");
    assert_eq!(payouts.get(&payout.id).await.expect("payout").status, PayoutStatus::Queued);

    // A run starts the attempt and sends its transfer; held in anvil's pool, it is not mined yet.
    chain.automine(false).await;
    let report = payouts.run().await.expect("run");
    assert_eq!(report.job_ids, std::slice::from_ref(&payout.id));
    // Sent and not yet mined, it counts as still waiting.
    assert_eq!((report.processed, report.failed, report.queued), (0, 0, 1));
    let sent = payouts.get(&payout.id).await.expect("payout");
    assert_eq!((sent.status, sent.attempts), (PayoutStatus::Processing, 1));
    let out = parts.store.outbound_by_reference("payout", &sent.attempt_reference()).await.expect("read");
    let out = out.expect("the attempt's transaction");
    assert_eq!((out.status, out.sender, out.to), (OutboundStatus::Pending, wallet, chain.usdc));

    // Without a receipt, a step leaves it in flight.
    payouts.step().await.expect("step");
    assert_eq!(payouts.get(&payout.id).await.expect("payout").status, PayoutStatus::Processing);

    // Mined, the next step reads the receipt and completes the payout.
    chain.mine(1).await;
    payouts.step().await.expect("step");
    let done = payouts.get(&payout.id).await.expect("payout");
    assert_eq!((done.status, done.tx_hash), (PayoutStatus::Completed, Some(out.tx_hash)));
    assert_eq!(balance().await.expect("balance"), amount);
    let events = parts.events(payout.id.as_str()).await;
    assert_eq!(events, ["payout.queued", "payout.processing", "payout.completed"]);
});

both_backends!(a_wallet_holding_just_enough_sends_both_payouts_while_the_first_is_unmined, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    let parts = Parts::new(&options).await;
    let payouts = payouts(&parts);
    let wallet: Address = PAYOUT_WALLET.parse().expect("address");
    let amount = U256::from(3_000_000u64);
    chain.fund(chain.usdc, wallet, amount * U256::from(2u64)).await;
    let mut ids = Vec::new();
    for (n, recipient) in [Address::repeat_byte(0xc1), Address::repeat_byte(0xc2)].into_iter().enumerate() {
        let new = NewPayout {
            user_id: format!("seller-{n}"),
            reference: format!("exact-{n}"),
            contract_id: None,
            reason: None,
            chain_id: ChainId(chain.chain_id),
            token: parts.usdc(&chain),
            recipient,
            amount: BaseUnits(amount),
        };
        ids.push(payouts.enqueue(new).await.expect("enqueue").id);
    }

    // The first transfer waits in anvil's pool when the second is weighed: the wallet's mined
    // balance covers both, and the first counts once, as promised to a payout in flight.
    chain.automine(false).await;
    payouts.run().await.expect("run");
    for id in &ids {
        let sent = payouts.get(id).await.expect("payout");
        assert_eq!((sent.status, sent.attempts, sent.last_error.clone()), (PayoutStatus::Processing, 1, None), "{id}");
    }
    chain.mine(1).await;
    payouts.step().await.expect("step");
    for id in &ids {
        assert_eq!(payouts.get(id).await.expect("payout").status, PayoutStatus::Completed, "{id}");
    }
});
