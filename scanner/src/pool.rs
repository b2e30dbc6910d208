//! A chain's RPC endpoints. Every head query asks them all, so that failing endpoints are noticed
//! coming back and a stale one (its head stuck while others move on) is set aside. With two or more
//! endpoints answering, the head used is the second highest: one node cannot make payscan credit or
//! confirm blocks that no other node has. Reads go to the preferred healthy endpoint and fail over
//! to the next within the same call. An endpoint that answers 429 (or 503 with `Retry-After`) is
//! left alone until then and the others serve meanwhile: backpressure, not a failing request.

use std::future::Future;
use std::time::{Duration, Instant};

use payscan_chain::transport::HttpFailure;
use payscan_core::registry::redact_url;
use prometheus::IntCounterVec;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::error::FollowerError;
use crate::metrics::ScannerMetrics;
use crate::range::is_range_too_large;
use crate::rpc::ChainRpc;

struct Endpoint {
    rpc: ChainRpc,
    label: String,
    head: Option<u64>,
    head_advanced_at: Instant,
    failures: u32,
    retry_at: Option<Instant>,
    /// Until when the endpoint asked to be left alone (`Retry-After`).
    rate_limited_until: Option<Instant>,
}

impl Endpoint {
    fn backing_off(&self, now: Instant) -> bool {
        self.retry_at.is_some_and(|at| at > now)
    }

    fn rate_limited(&self, now: Instant) -> bool {
        self.rate_limited_until.is_some_and(|at| at > now)
    }
}

/// The endpoints of one chain.
pub struct RpcPool {
    endpoints: Vec<Endpoint>,
    stale_after: Duration,
    base_backoff: Duration,
    max_backoff: Duration,
    serving: usize,
    failovers: IntCounterVec,
    rate_limited: IntCounterVec,
    oversized: IntCounterVec,
    chain_label: String,
}

impl RpcPool {
    /// `poll` is the follower's poll interval: a failing endpoint is asked again after one poll,
    /// then after twice that, and so on up to 30 polls. Answers larger than `max_answer` bytes are
    /// refused unread, as a failure of the endpoint that sent them.
    pub fn new(
        urls: &[&str],
        timeout: Duration,
        max_answer: usize,
        poll: Duration,
        stale_after: Duration,
        metrics: &ScannerMetrics,
        chain_label: String,
    ) -> Result<Self, FollowerError> {
        let now = Instant::now();
        let endpoints = urls
            .iter()
            .map(|url| {
                Ok(Endpoint {
                    rpc: ChainRpc::http_capped(url, timeout, max_answer)?,
                    label: redact_url(url),
                    head: None,
                    head_advanced_at: now,
                    failures: 0,
                    retry_at: None,
                    rate_limited_until: None,
                })
            })
            .collect::<Result<Vec<_>, FollowerError>>()?;
        Ok(Self {
            endpoints,
            stale_after,
            base_backoff: poll,
            max_backoff: (poll * 30).max(Duration::from_secs(1)),
            serving: 0,
            failovers: metrics.rpc_failovers.clone(),
            rate_limited: metrics.rpc_rate_limited.clone(),
            oversized: metrics.rpc_oversized.clone(),
            chain_label,
        })
    }

    /// The endpoint reads go to now, as shown to operators.
    pub fn serving_label(&self) -> &str {
        &self.endpoints[self.serving].label
    }

    /// Asks every endpoint not backing off for its head and returns the cross-checked head.
    pub async fn head(&mut self) -> Result<u64, FollowerError> {
        let now = Instant::now();
        // When every endpoint is backing off, ask them all anyway: waiting helps nobody. Except
        // those that said when to come back: they are left alone until then.
        let all_backing_off = self.endpoints.iter().all(|e| e.backing_off(now));
        if self.endpoints.iter().all(|e| e.rate_limited(now)) {
            return Err(FollowerError::RateLimited);
        }
        let mut asks = JoinSet::new();
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let ask = if all_backing_off { !endpoint.rate_limited(now) } else { !endpoint.backing_off(now) };
            if ask {
                let rpc = endpoint.rpc.clone();
                asks.spawn(async move { (i, rpc.head().await) });
            }
        }
        let mut last_error = None;
        while let Some(joined) = asks.join_next().await {
            let Ok((i, answer)) = joined else { continue };
            match answer {
                Ok(head) => {
                    let endpoint = &mut self.endpoints[i];
                    if endpoint.head.is_none_or(|old| head > old) {
                        endpoint.head_advanced_at = now;
                    }
                    endpoint.head = Some(head);
                    if endpoint.failures > 0 {
                        info!(chain_id = %self.chain_label, rpc = %endpoint.label, "rpc endpoint answers again");
                    }
                    endpoint.failures = 0;
                    endpoint.retry_at = None;
                }
                Err(e) => {
                    self.failed(i, &e);
                    last_error = Some(e);
                }
            }
        }
        let live = self.live(now);
        let mut heads: Vec<u64> = live.iter().filter_map(|&i| self.endpoints[i].head).collect();
        heads.sort_unstable_by(|a, b| b.cmp(a));
        self.serving = live.first().copied().unwrap_or(self.serving);
        match heads.as_slice() {
            [] => Err(last_error.unwrap_or(FollowerError::Incomplete("an RPC endpoint that answers"))),
            [only] => Ok(*only),
            [_, second, ..] => Ok(*second),
        }
    }

    /// Endpoints that answer and are not stale, preferred first.
    fn live(&self, now: Instant) -> Vec<usize> {
        let best = self.endpoints.iter().filter(|e| e.failures == 0).filter_map(|e| e.head).max();
        (0..self.endpoints.len())
            .filter(|&i| {
                let e = &self.endpoints[i];
                let stale = matches!((e.head, best), (Some(h), Some(b)) if h < b)
                    && now.duration_since(e.head_advanced_at) > self.stale_after;
                e.failures == 0 && e.head.is_some() && !stale
            })
            .collect()
    }

    fn failed(&mut self, i: usize, error: &FollowerError) {
        let now = Instant::now();
        let endpoint = &mut self.endpoints[i];
        endpoint.failures = endpoint.failures.saturating_add(1);
        let mut backoff = self.base_backoff.saturating_mul(1 << endpoint.failures.min(10)).min(self.max_backoff);
        match error.http_failure() {
            Some(HttpFailure::RateLimited { retry_after, .. }) => {
                // The endpoint's own word on when to come back beats our schedule.
                if let Some(after) = retry_after {
                    backoff = *after;
                }
                endpoint.rate_limited_until = Some(now + backoff);
                self.rate_limited.with_label_values(&[&self.chain_label]).inc();
            }
            Some(HttpFailure::TooLarge { .. }) => self.oversized.with_label_values(&[&self.chain_label]).inc(),
            None => {}
        }
        endpoint.retry_at = Some(now + backoff);
        if endpoint.failures == 1 && self.endpoints.len() > 1 {
            warn!(chain_id = %self.chain_label, rpc = %self.endpoints[i].label, error = %error, "rpc endpoint failing; using the others");
            self.failovers.with_label_values(&[&self.chain_label]).inc();
        }
    }

    /// The endpoint reads go to.
    pub fn serving(&self) -> &ChainRpc {
        &self.endpoints[self.serving].rpc
    }

    /// An endpoint other than the serving one where there is one that answers, to check what the
    /// serving one said.
    pub fn verifier(&self) -> &ChainRpc {
        let live = self.live(Instant::now());
        let other = live.into_iter().find(|&i| i != self.serving).unwrap_or(self.serving);
        &self.endpoints[other].rpc
    }

    /// Runs `call` on the live endpoints in order of preference until one answers. A refusal of
    /// the request itself (a range too large) is returned to the caller, not failed over.
    pub async fn call<T, F, Fut>(&mut self, call: F) -> Result<T, FollowerError>
    where
        F: Fn(ChainRpc) -> Fut,
        Fut: Future<Output = Result<T, FollowerError>>,
    {
        self.call_rotated(0, call).await
    }

    /// [`Self::call`], starting `skip` endpoints further down the order of preference: asking
    /// again, the next endpoint answers first.
    pub async fn call_rotated<T, F, Fut>(&mut self, skip: usize, call: F) -> Result<T, FollowerError>
    where
        F: Fn(ChainRpc) -> Fut,
        Fut: Future<Output = Result<T, FollowerError>>,
    {
        let mut last_error = None;
        let mut order = self.live(Instant::now());
        if !order.is_empty() {
            let len = order.len();
            order.rotate_left(skip % len);
        }
        for i in order {
            match call(self.endpoints[i].rpc.clone()).await {
                Ok(value) => {
                    self.serving = i;
                    return Ok(value);
                }
                Err(FollowerError::Rpc(e)) if is_range_too_large(&e) => return Err(FollowerError::Rpc(e)),
                Err(e) => {
                    self.failed(i, &e);
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or(FollowerError::Incomplete("an RPC endpoint that answers")))
    }
}
