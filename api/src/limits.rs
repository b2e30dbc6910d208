//! Per-caller rate limits on the routes a buyer could use to exhaust payscan: intents (each can
//! hold a fresh derived address in the watch set) and permit relays (each costs the relayer gas).
//! Keyed by the token's subject; admins are not limited.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use payscan_core::config::{RateLimit, RateLimits};

use crate::auth::Caller;
use crate::error::ApiError;

/// Checks between sweeps of callers whose budget is full again (their state is then forgotten).
const FORGET_EVERY: u32 = 1024;

/// One route's budget per caller.
pub struct CallerLimit {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    what: &'static str,
    checks: AtomicU32,
}

impl CallerLimit {
    fn new(rate: RateLimit, what: &'static str) -> Self {
        let count = NonZeroU32::new(rate.count).unwrap_or(NonZeroU32::MIN);
        // The budget refills one request every period / count; the whole of it may be used at once.
        let refill = (rate.period / count.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(refill).unwrap_or_else(|| Quota::per_second(count)).allow_burst(count);
        Self { limiter: RateLimiter::keyed(quota), clock: DefaultClock::default(), what, checks: AtomicU32::new(0) }
    }

    /// Takes one request from the caller's budget, or says when the next one is allowed.
    pub fn check(&self, caller: &Caller) -> Result<(), ApiError> {
        if caller.is_admin() {
            return Ok(());
        }
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&caller.user_id).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            // Whole seconds, rounded up: a client that waits as told is let through.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::info!(target: "payscan::api", user_id = %caller.user_id, what = self.what, retry_after_s = secs, "rate limited");
            ApiError::rate_limited(format!("too many {} from this caller; retry in {secs} s", self.what), secs.max(1))
        })
    }
}

/// The limits in force; a route without one is not limited.
pub struct Limits {
    pub intents: Option<CallerLimit>,
    pub permits: Option<CallerLimit>,
}

impl Limits {
    pub fn new(config: RateLimits) -> Self {
        Self {
            intents: config.intents.map(|rate| CallerLimit::new(rate, "intents")),
            permits: config.permits.map(|rate| CallerLimit::new(rate, "permit relays")),
        }
    }

    pub fn intent(&self, caller: &Caller) -> Result<(), ApiError> {
        self.intents.as_ref().map_or(Ok(()), |limit| limit.check(caller))
    }

    pub fn permit(&self, caller: &Caller) -> Result<(), ApiError> {
        self.permits.as_ref().map_or(Ok(()), |limit| limit.check(caller))
    }
}
