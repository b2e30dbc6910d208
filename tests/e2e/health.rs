//! Health lists every background task with its state: a task that dies shows as failed, and the
//! instance as degraded, while the daemon keeps serving.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

fn task<'a>(health: &'a Value, name: &str) -> Option<&'a Value> {
    health["tasks"].as_array()?.iter().find(|t| t["name"] == name)
}

both_backends!(a_task_that_dies_shows_as_failed_and_degrades_health, |backend| async move {
    let chain = TestChain::start(31337).await;

    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let (status, health) = app.get("/api/payment/health", None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "ok", "{health}");
    for name in ["webhook-dispatcher", "follower-31337", "payment-expiry", "registry-reload", "sse-feed"] {
        let task = task(&health, name).unwrap_or_else(|| panic!("no {name} task: {health}"));
        assert_eq!(task["state"], "running", "{task}");
        assert_eq!(task["error"], Value::Null, "{task}");
    }
    app.stop().await;

    // This build's panic drill: a task that panics once the daemon runs.
    let env = Arc::new(TestEnv::new(&AppOptions::new(backend, &chain)).await);
    let (mut daemon, app) = Daemon::start_with(env, &[("PAYSCAN_TEST_PANIC", "1".to_owned())]).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let (status, health) = app.get("/api/payment/health", None).await;
        assert_eq!(status, StatusCode::OK, "a failed task leaves health answering: {health}");
        if task(&health, "panic-drill").is_some_and(|t| t["state"] == "failed") {
            break health;
        }
        assert!(Instant::now() < deadline, "the panic never showed in health: {health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["success"], json!(true), "{health}");
    let drill = task(&health, "panic-drill").cloned().unwrap_or_default();
    // The panic's message names what the task held; health says only that it panicked.
    assert_eq!(drill["error"], "panicked", "{drill}");
    assert!(drill["endedAt"].is_string(), "{drill}");
    let dispatcher = task(&health, "webhook-dispatcher").cloned().unwrap_or_default();
    assert_eq!(dispatcher["state"], "running", "the other tasks run on: {health}");
    assert!(!daemon.exited(), "a panicking task leaves the daemon running");
    drop(daemon);
});
