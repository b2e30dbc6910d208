//! Crash safety: `kill -9` between detection and the threshold, restart, and every payment
//! completes once while each target gets each event exactly once by `webhook-id`.

use std::sync::Arc;

use alloy::primitives::U256;

use crate::both_backends;
use crate::support::*;

both_backends!(kill_9_between_detection_and_threshold_loses_and_repeats_nothing, |backend| async move {
    let chain = TestChain::start(31337).await;
    let port = ReservedPort::new();
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![port.url()];
    let env = Arc::new(TestEnv::new(&options).await);
    let receiver = Receiver::start_on(port, &env.webhook_secret).await;

    let (daemon, app) = Daemon::start(env.clone()).await;
    let first = app.intent("buyer-1", intent_body("offer-k1", "7", "USDC", &chain)).await;
    let second = app.intent("buyer-1", intent_body("offer-k2", "8", "USDT", &chain)).await;
    let first_id = first["paymentId"].as_str().expect("id").to_owned();
    let second_id = second["paymentId"].as_str().expect("id").to_owned();

    chain.pay(chain.usdc, address(&first["destination"]), U256::from(7_000_000u64)).await;
    receiver.wait_for(&first_id, "payment.processing").await;
    // The second transfer lands and payscan dies before it can be sure to have seen it.
    chain.pay(chain.usdt, address(&second["destination"]), units(&second["amountBaseUnits"])).await;
    daemon.kill9();
    chain.mine(THRESHOLD).await;

    let (daemon, app) = Daemon::start(env.clone()).await;
    for id in [&first_id, &second_id] {
        receiver.wait_for(id, "payment.completed").await;
        let payment = app.wait_for_deliveries(id, 4).await;
        assert_eq!(payment["status"], "completed");
        assert_eq!(payment["transfers"].as_array().map(Vec::len), Some(1), "credited once: {payment:#}");
        let types: Vec<String> = receiver.events_for(id).into_iter().map(|e| e.event_type).collect();
        assert_eq!(types, ["payment.processing", "payment.completed"], "each event once");
        // payscan's own receiver took each event once too.
        let own: Vec<_> = payment["webhooks"]
            .as_array()
            .expect("webhooks")
            .iter()
            .filter(|w| w["target"].as_str().is_some_and(|t| t.contains("/amn-scanner/")))
            .cloned()
            .collect();
        assert_eq!(own.len(), 2);
        assert!(own.iter().all(|w| w["status"] == "delivered"));
    }
    // A delivery interrupted by the kill may arrive again, always under its own id.
    assert!(receiver.deliveries().iter().all(|d| d.body["intentId"] == first_id || d.body["intentId"] == second_id));
    assert_eq!(receiver.unverified(), 0);
    drop(daemon);
});
