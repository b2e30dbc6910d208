//! Open payments written straight into the database, many thousands a second: what the backfill
//! and memory benchmarks watch. Each row is what an intent writes (see migrations/); payments
//! `0..derived` get their real derived addresses (the fixture pays some of them), the rest
//! addresses no transfer will ever reach.

use alloy::primitives::{keccak256, Address};
use payscan_core::{DerivationIndex, PaymentId};
use payscan_custody::Deriver;
use sqlx::any::AnyPoolOptions;

use crate::harness::MNEMONIC;

/// Rows per INSERT.
const BATCH: usize = 500;

pub async fn open_payments(
    database_url: &str,
    chain_id: u64,
    token: Address,
    count: usize,
    derived: usize,
) -> anyhow::Result<()> {
    // The schema first, exactly as payscan makes it.
    payscan_core::store::Store::connect(database_url).await?.close().await;
    sqlx::any::install_default_drivers();
    let url =
        if database_url.starts_with("sqlite:") { format!("{database_url}?mode=rwc") } else { database_url.to_owned() };
    let pool = AnyPoolOptions::new().max_connections(1).connect(&url).await?;
    let deriver = Deriver::from_mnemonic(MNEMONIC)?;
    let now = payscan_core::clock::now_ms();
    for start in (0..count).step_by(BATCH) {
        let end = (start + BATCH).min(count);
        let mut sql = String::from(
            "INSERT INTO payments (id, buyer_id, seller_id, seller_offer_id, purchase_request_id, provider, status, \
             escrow_state, chain_id, token_address, token_symbol, token_decimals, amount, received, destination, \
             derivation_index, confirmations, tx_hash, underpaid, metadata, watch_seq, expires_at, created_at, \
             updated_at) VALUES ",
        );
        for i in start..end {
            let address = if i < derived {
                let index = DerivationIndex::new(i as u32).ok_or_else(|| anyhow::anyhow!("index {i}"))?;
                deriver.derive(index)?
            } else {
                // Apart from every address the fixture pays (those hash a plain counter).
                Address::from_slice(&keccak256([b"open payment ".as_slice(), &(i as u64).to_be_bytes()].concat())[12..])
            };
            if i > start {
                sql.push(',');
            }
            sql.push_str(&format!(
                "('{id}', 'buyer-{i}', 'seller-1', 'offer-{i}', 'pr-{i}', 'amn.scanner', 'pending', 'unfunded', \
                 {chain_id}, '{token}', 'USDC', 6, '1000000', '0', '{address}', {i}, 0, NULL, 0, '{{}}', {seq}, \
                 {expires}, {now}, {now})",
                id = PaymentId::new(),
                token = token.to_checksum(None),
                address = address.to_checksum(None),
                seq = i + 1,
                expires = now + 86_400_000,
            ));
        }
        sqlx::query(&sql).execute(&pool).await?;
    }
    pool.close().await;
    Ok(())
}
