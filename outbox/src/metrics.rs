//! Prometheus metrics of the outbox, registered once.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// The dispatcher's metrics.
#[derive(Debug, Clone)]
pub struct OutboxMetrics {
    pub deliveries: IntCounterVec,
    pub outbox_depth: IntGauge,
}

impl OutboxMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let deliveries = IntCounterVec::new(
            Opts::new(
                "payscan_webhook_deliveries_total",
                "Delivery attempts, by outcome (superseded: the attempt outlived its claim and its outcome was dropped)",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(deliveries.clone()))?;
        let outbox_depth = IntGauge::new("payscan_outbox_depth", "Deliveries not yet delivered")?;
        registry.register(Box::new(outbox_depth.clone()))?;
        Ok(Self { deliveries, outbox_depth })
    }
}
