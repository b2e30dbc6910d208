//! Transaction Safety: before a payment completes, each counted transfer is checked again against
//! the node: the transaction succeeded, the log is the registry token's `Transfer` to the payment's
//! destination for the credited amount, and its block is still canonical. Together the transfers
//! must cover the amount. The result is kept on the payment (`metadata.transactionSafety`).

use alloy::primitives::U256;
use payscan_chain::abi::{IERC20FeeProxy, IERC20};
use payscan_core::clock;
use payscan_core::registry::Chain;
use payscan_core::store::credits::Credit;
use payscan_core::store::Payment;
use payscan_core::BaseUnits;
use serde_json::{json, Value};

use crate::error::FollowerError;
use crate::rpc::ChainRpc;

pub use payscan_core::change::SafetyVerdict as Verdict;

/// One named check over all the payment's transfers.
#[derive(Debug, Clone)]
struct Check {
    name: &'static str,
    failures: Vec<String>,
}

/// The checks' result.
#[derive(Debug, Clone)]
pub struct SafetyReport {
    pub verdict: Verdict,
    checks: Vec<Check>,
    /// The lowest credited block the node no longer has with the credited hash: a reorg the
    /// follower has not seen yet.
    pub stale_block: Option<u64>,
    error: Option<String>,
}

impl SafetyReport {
    /// The reasons the checks failed, one line each.
    pub fn reasons(&self) -> Vec<String> {
        self.checks.iter().flat_map(|c| c.failures.iter().map(move |f| format!("{}: {f}", c.name))).collect()
    }

    /// As stored and shown in `metadata.transactionSafety`.
    pub fn to_json(&self, confirmations: u64, threshold: u64) -> Value {
        json!({
            "status": self.verdict.as_str(),
            "checks": self.checks.iter().map(|c| json!({
                "name": c.name,
                "passed": c.failures.is_empty(),
                "detail": if c.failures.is_empty() { Value::Null } else { json!(c.failures.join("; ")) },
            })).collect::<Vec<_>>(),
            "error": self.error,
            "confirmations": confirmations,
            "threshold": threshold,
            "checkedAt": clock::rfc3339(clock::now_ms()),
        })
    }
}

/// Runs the checks for a payment whose transfers reached the threshold.
pub async fn check(rpc: &ChainRpc, chain: &Chain, payment: &Payment, credits: &[Credit]) -> SafetyReport {
    match run(rpc, chain, payment, credits).await {
        Ok(report) => report,
        Err(e) => SafetyReport {
            verdict: Verdict::Pending,
            checks: Vec::new(),
            stale_block: None,
            error: Some(e.to_string()),
        },
    }
}

async fn run(
    rpc: &ChainRpc,
    chain: &Chain,
    payment: &Payment,
    credits: &[Credit],
) -> Result<SafetyReport, FollowerError> {
    let mut receipt_status = Check { name: "receipt_status", failures: Vec::new() };
    let mut token = Check { name: "token", failures: Vec::new() };
    let mut recipient = Check { name: "recipient", failures: Vec::new() };
    let mut amount = Check { name: "amount", failures: Vec::new() };
    let mut canonical = Check { name: "canonical", failures: Vec::new() };
    let mut stale_block: Option<u64> = None;
    let mut covered = BaseUnits::ZERO;

    for credit in credits.iter().filter(|c| c.counted && !c.reverted) {
        let tx = format!("{:#x}", credit.tx_hash);
        if credit.token != payment.rail.token.address || chain.token_by_address(credit.token).is_none() {
            token.failures.push(format!("{tx} log is from {}, not the payment's registry token", credit.token));
        }
        // Through the fee proxy the payee is the payment's Request Network payee.
        let payee = match (&credit.proxy, &payment.rn) {
            (Some(_), Some(rn)) => rn.payee,
            _ => payment.destination,
        };
        if credit.to != payee {
            recipient.failures.push(format!("{tx} pays {}, not the payee", credit.to));
        }
        match rpc.block(credit.block_number).await? {
            Some(block) if block.hash == credit.block_hash => {}
            Some(_) => {
                canonical.failures.push(format!("block {} of {tx} is no longer canonical", credit.block_number));
                stale_block = Some(stale_block.map_or(credit.block_number, |b| b.min(credit.block_number)));
                continue;
            }
            None => return Err(FollowerError::Incomplete("a credited block")),
        }
        // The block is canonical and holds the log: a node without the receipt lags behind it.
        let Some(receipt) = rpc.receipt(credit.tx_hash).await? else {
            return Err(FollowerError::Incomplete("the receipt of a transaction in a canonical block"));
        };
        if !receipt.status() {
            receipt_status.failures.push(format!("{tx} reverted"));
        }
        if receipt.block_hash != Some(credit.block_hash) {
            canonical.failures.push(format!("{tx} is in another block than credited"));
        }
        let log = receipt.inner.logs().iter().find(|l| l.log_index == Some(credit.log_index));
        // What the log says: (token, recipient, value), from a Transfer or the fee proxy's event.
        let seen = match (log, &credit.proxy) {
            (Some(l), None) => l.log_decode::<IERC20::Transfer>().ok().map(|d| {
                let event = d.inner.data;
                (l.inner.address, event.to, event.value)
            }),
            (Some(l), Some(proxy)) => l
                .log_decode::<IERC20FeeProxy::TransferWithReferenceAndFee>()
                .ok()
                .filter(|_| Some(l.inner.address) == chain.proxy_address)
                .filter(|_| l.topics().get(1) == Some(&proxy.reference.topic()))
                .map(|d| {
                    let event = d.inner.data;
                    (event.tokenAddress, event.to, event.amount)
                }),
            (None, _) => None,
        };
        match seen {
            Some((address, to, value)) => {
                if address != credit.token {
                    token.failures.push(format!("{tx} log {} moves {address}", credit.log_index));
                }
                if to != payee {
                    recipient.failures.push(format!("{tx} log {} pays {to}", credit.log_index));
                }
                if value != credit.amount.0 {
                    amount
                        .failures
                        .push(format!("{tx} log {} moves {value}, credited {}", credit.log_index, credit.amount));
                }
            }
            None => token.failures.push(format!(
                "{tx} has no {} log at index {}",
                if credit.proxy.is_some() { "fee-proxy payment" } else { "Transfer" },
                credit.log_index
            )),
        }
        covered = covered.checked_add(credit.amount).unwrap_or(BaseUnits(U256::MAX));
    }
    if covered < payment.rail.amount {
        amount.failures.push(format!("checked transfers cover {covered} of {}", payment.rail.amount));
    }
    let checks = vec![receipt_status, token, recipient, amount, canonical];
    let verdict = if checks.iter().all(|c| c.failures.is_empty()) { Verdict::Passed } else { Verdict::Failed };
    Ok(SafetyReport { verdict, checks, stale_block, error: None })
}
