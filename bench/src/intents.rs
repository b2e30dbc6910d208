//! Intents per second over HTTP at a fixed concurrency: each one allocates a derivation index,
//! derives its address and writes the payment, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Instant;

use payscan::devchain::AnvilOptions;
use tokio::task::JoinSet;

use crate::harness::{self, Backend, Chain, Database, Payscan, TempDir};
use crate::report::Report;

pub async fn run(report: &mut Report, count: usize, concurrency: usize) -> anyhow::Result<()> {
    let chain = Chain::start(AnvilOptions::default()).await?;
    let dir = TempDir::new("intents")?;
    let registry = chain.registry(&dir.0)?;
    let mut rows = Vec::new();
    for backend in Backend::BOTH {
        let db = Database::fresh(backend).await?;
        let env = harness::settings(&db.url, &registry, &[], &harness::webhook_secret());
        let payscan = Arc::new(Payscan::start(&env).await?);
        let token = Arc::new(Payscan::token("bench-buyer", "buyer")?);
        // Warm the pool and the statement caches.
        for i in 0..concurrency {
            payscan.intent(&token, &format!("warm-{i}"), "1", "USDC").await?;
        }
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = JoinSet::new();
        for _ in 0..concurrency {
            let (payscan, token, next) = (payscan.clone(), token.clone(), next.clone());
            workers.spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return Ok::<_, anyhow::Error>(());
                    }
                    payscan.intent(&token, &format!("offer-{i}"), "12.5", "USDC").await?;
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done??;
        }
        let elapsed = started.elapsed().as_secs_f64();
        rows.push(vec![
            backend.name().to_owned(),
            count.to_string(),
            concurrency.to_string(),
            format!("{elapsed:.2}"),
            format!("{:.0}", count as f64 / elapsed),
            if backend == Backend::Sqlite { "≥ 1,500".into() } else { String::new() },
        ]);
        if let Ok(payscan) = Arc::try_unwrap(payscan) {
            payscan.app.stop().await?;
        }
        db.drop_database().await?;
    }
    report.section("Intents");
    report.line("`POST /api/payment/request-network/intents` over HTTP from this process, each a new payment (index allocation, derivation, insert, threshold read).");
    report.table(&["database", "intents", "concurrency", "seconds", "intents/s", "target"], rows);
    Ok(())
}
