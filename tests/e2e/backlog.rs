//! A webhook target down for three days with 10,000 events queued for it, lived through on payscan's
//! test clock (`PAYSCAN_TEST_CLOCK`: the daemon's clock moves forward, nothing sleeps the days).
//! The backlog waits in the database: payscan's memory stays flat, the healthy target gets every
//! event at once, and when the down target comes back it gets every event by the schedule.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use payscan_core::event::EventKind;
use payscan_core::store::Store;
use payscan_core::PaymentId;
use sqlx::Row;

use crate::both_backends;
use crate::support::*;

const EVENTS: i64 = 10_000;
/// Eight retries over 92 h 35 min: a target down for three days is still being retried.
const RETRY: &str = "5m,30m,2h,6h,12h,24h,24h,24h";
const RETRY_MIN: [i64; 8] = [5, 30, 120, 360, 720, 1440, 1440, 1440];
/// How far past each retry's due time the clock is moved: more than one pass over the backlog
/// takes, so every delivery is due.
const MARGIN_MS: i64 = 60_000;

/// A retry's delay stretched by the dispatcher's largest jitter (a tenth), and the margin.
fn past_retry(delay_min: i64) -> i64 {
    delay_min * 60_000 * 11 / 10 + MARGIN_MS
}

fn set_clock(file: &Path, shift_ms: i64) {
    std::fs::write(file, shift_ms.to_string()).expect("clock file");
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `target`'s deliveries: `(delivered, waiting, attempts)`, where waiting are those pending with at
/// least `tried` attempts, the last one recorded (no claim on them).
async fn progress(store: &Store, target: &str, tried: i64) -> (i64, i64, i64) {
    let row = sqlx::query(
        "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN status = 'pending' AND lease_until IS NULL AND attempts >= $2 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(attempts), 0) AS BIGINT) FROM webhook_deliveries WHERE target = $1",
    )
    .bind(target)
    .bind(tried)
    .fetch_one(store.pool())
    .await
    .expect("progress");
    (row.try_get(0).expect("n"), row.try_get(1).expect("n"), row.try_get(2).expect("n"))
}

async fn until_progress(
    store: &Store,
    target: &str,
    tried: i64,
    what: &str,
    done: impl Fn((i64, i64, i64)) -> bool,
) -> (i64, i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = progress(store, target, tried).await;
        if done(now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: (delivered, waiting, attempts) = {now:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

both_backends!(
    a_target_down_for_three_days_gets_its_ten_thousand_events_without_costing_memory,
    |backend| async move {
        let chain = TestChain::start(31337).await;
        let (healthy_port, down_port) = (ReservedPort::new(), ReservedPort::new());
        let (healthy, down) = (healthy_port.url(), down_port.url());
        let mut options = AppOptions::new(backend, &chain);
        options.targets = vec![healthy.clone(), down.clone()];
        options.retry = RETRY;
        options.self_webhook = false;
        let env = Arc::new(TestEnv::new(&options).await);
        let clock = env.dir.0.join("clock");
        set_clock(&clock, 0);
        let receiver = Receiver::start_on(healthy_port, &env.webhook_secret).await;
        let (daemon, _app) =
            Daemon::start_with(env.clone(), &[("PAYSCAN_TEST_CLOCK", clock.display().to_string())]).await;
        let rss_idle = rss_kib(daemon.pid());

        // One event each for 10,000 payments, as a busy day of a marketplace writes them.
        let store = Store::connect(&env.db.url).await.expect("store").with_webhook_targets(options.targets.clone());
        let written_at = payscan_core::clock::now_ms();
        for _ in 0..EVENTS / 500 {
            let mut tx = store.begin().await.expect("begin");
            for _ in 0..500 {
                let event = event_about(&PaymentId::new(), EventKind::Completed);
                store.enqueue_event(&mut tx, &event, written_at).await.expect("event");
            }
            store.commit_with_events(tx).await.expect("commit");
        }

        // The healthy target gets everything now, whatever the other does.
        let started = Instant::now();
        until_progress(&store, &healthy, 0, "the healthy target served", |(d, _, _)| d == EVENTS).await;
        let healthy_took = started.elapsed();
        until_progress(&store, &down, 1, "the first attempts", |(_, w, _)| w == EVENTS).await;
        let rss_backlogged = rss_kib(daemon.pid());
        let mut rss_peak = rss_backlogged;

        // Three days and more pass, one retry at a time; the target answers nothing throughout.
        let mut shift = 0;
        for (n, delay_min) in (2..).zip(&RETRY_MIN[..7]) {
            shift += past_retry(*delay_min);
            set_clock(&clock, shift);
            until_progress(&store, &down, n, "a retry of every delivery", |(d, w, _)| d == 0 && w == EVENTS).await;
            rss_peak = rss_peak.max(rss_kib(daemon.pid()));
        }
        assert!(shift > 72 * 3_600_000, "down for {} h only", shift / 3_600_000);
        // More than three days after it went down, nothing is due before each delivery's next retry.
        let before = progress(&store, &down, 8).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(progress(&store, &down, 8).await, before, "nothing was due before its turn");
        assert_eq!(before.1, EVENTS);

        // Back: the next retry delivers everything, once.
        shift += past_retry(RETRY_MIN[7]);
        let answering = Answering { clock_shift_ms: shift, ..Answering::default() };
        let back = Receiver::start_answering(down_port, &env.webhook_secret, answering).await;
        set_clock(&clock, shift);
        let (_, _, attempts) = until_progress(&store, &down, 0, "everything delivered", |(d, _, _)| d == EVENTS).await;
        rss_peak = rss_peak.max(rss_kib(daemon.pid()));
        let ids = |r: &Receiver| r.deliveries().into_iter().map(|d| d.id).collect::<std::collections::HashSet<_>>();
        assert_eq!(ids(&back).len() as i64, EVENTS, "every event reached the target that was down");
        assert_eq!(ids(&receiver).len() as i64, EVENTS, "and the healthy one");
        assert_eq!(back.unverified() + receiver.unverified(), 0);
        // Without a crash an attempt repeats only if its outcome could not be recorded within its
        // lease: on a loaded machine a few may, never a share of the backlog.
        let repeated = (back.deliveries().len() + receiver.deliveries().len()) as i64 - 2 * EVENTS;
        let extra_attempts = attempts - 9 * EVENTS;
        assert!(repeated <= EVENTS / 100, "{repeated} deliveries repeated without a crash");
        assert!(extra_attempts <= EVENTS / 100, "{extra_attempts} attempts more than the schedule's");
        eprintln!(
            "backlog: healthy target served {EVENTS} in {healthy_took:?}; {attempts} attempts to the one down, \
         {repeated} deliveries repeated; \
         rss idle {} MiB, backlogged {} MiB, peak over three days {} MiB",
            rss_idle / 1024,
            rss_backlogged / 1024,
            rss_peak / 1024
        );
        // The backlog is rows, not memory: three days of retries cost nothing more than the first pass.
        let grown_mib = rss_peak.saturating_sub(rss_backlogged) / 1024;
        assert!(grown_mib < 48, "memory grew by {grown_mib} MiB over three days of retries");
        assert!(rss_peak < 160 * 1024, "peak RSS {rss_peak} KiB");
        assert!(healthy_took < Duration::from_secs(60), "the healthy target waited {healthy_took:?}");
        drop(daemon);
    }
);
