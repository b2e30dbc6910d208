//! Prometheus metrics of the followers, registered once.

use prometheus::{IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The scanner's metrics.
#[derive(Debug, Clone)]
pub struct ScannerMetrics {
    pub head: IntGaugeVec,
    pub cursor: IntGaugeVec,
    pub lag_blocks: IntGaugeVec,
    pub logs: IntCounterVec,
    pub credits: IntCounterVec,
    pub rpc_errors: IntCounterVec,
    pub rpc_failovers: IntCounterVec,
    pub rpc_rate_limited: IntCounterVec,
    pub rpc_oversized: IntCounterVec,
    pub incomplete_answers: IntCounterVec,
    pub unproven_blocks: IntCounterVec,
    pub lag_seconds: IntGaugeVec,
    pub range_blocks: IntGaugeVec,
    pub watched: IntGauge,
    pub reorgs: IntCounterVec,
    pub reorg_depth: IntGaugeVec,
    pub reverted_credits: IntCounterVec,
    pub safety_failures: IntCounterVec,
}

impl ScannerMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| -> Result<IntGaugeVec, prometheus::Error> {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
            let metric = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        let gauge = |name: &str, help: &str| -> Result<IntGauge, prometheus::Error> {
            let metric = IntGauge::new(name, help)?;
            registry.register(Box::new(metric.clone()))?;
            Ok(metric)
        };
        Ok(Self {
            head: gauge_vec("payscan_chain_head_block", "Newest block the chain's RPC reported", &["chain_id"])?,
            cursor: gauge_vec("payscan_chain_cursor_block", "Last block the follower processed", &["chain_id"])?,
            lag_blocks: gauge_vec("payscan_chain_lag_blocks", "Head minus cursor", &["chain_id"])?,
            logs: counter_vec("payscan_transfer_logs_total", "Transfer logs fetched", &["chain_id"])?,
            credits: counter_vec("payscan_credits_total", "Transfers credited, by event", &["chain_id", "event"])?,
            rpc_errors: counter_vec(
                "payscan_follower_errors_total",
                "Failed follower ticks, by kind",
                &["chain_id", "kind"],
            )?,
            rpc_failovers: counter_vec(
                "payscan_rpc_failovers_total",
                "Times an RPC endpoint started failing and the others took over",
                &["chain_id"],
            )?,
            rpc_rate_limited: counter_vec(
                "payscan_rpc_rate_limited_total",
                "Answers of 429 (or 503 with Retry-After): the endpoint is left alone for a while",
                &["chain_id"],
            )?,
            rpc_oversized: counter_vec(
                "payscan_rpc_oversized_answers_total",
                "RPC answers refused unread for being larger than PAYSCAN_RPC_MAX_ANSWER_BYTES",
                &["chain_id"],
            )?,
            incomplete_answers: counter_vec(
                "payscan_log_answers_reasked_total",
                "eth_getLogs answers asked again: they lacked logs the block headers promise, or came from another branch",
                &["chain_id"],
            )?,
            unproven_blocks: counter_vec(
                "payscan_unproven_blocks_total",
                "Blocks committed without the logs their bloom suggests after repeated consistent answers (bloom false positives)",
                &["chain_id"],
            )?,
            lag_seconds: gauge_vec("payscan_chain_lag_seconds", "Age of the cursor's block", &["chain_id"])?,
            range_blocks: gauge_vec("payscan_log_range_blocks", "Current eth_getLogs block range", &["chain_id"])?,
            watched: gauge("payscan_watched_destinations", "Destinations in the watch set")?,
            reorgs: counter_vec("payscan_reorgs_total", "Reorgs found, by outcome", &["chain_id", "outcome"])?,
            reorg_depth: gauge_vec("payscan_reorg_depth_blocks", "Depth of the latest reorg unwound", &["chain_id"])?,
            reverted_credits: counter_vec(
                "payscan_reverted_credits_total",
                "Credits a reorg took away",
                &["chain_id"],
            )?,
            safety_failures: counter_vec(
                "payscan_safety_check_failures_total",
                "Payments held back by a failed Transaction Safety check",
                &["chain_id"],
            )?,
        })
    }
}
