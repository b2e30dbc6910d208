//! The backfill fixture: a chain generated once (many blocks, M token transfers a block, one in
//! ten to a payment's derived address, a fee-proxy payment every tenth block), dumped with
//! `anvil_dumpState` and loaded into a fresh anvil for every run. anvil slows as it grows, so
//! nothing is mined again per run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy::network::TransactionBuilder;
use alloy::primitives::{keccak256, Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use anyhow::Context;
use payscan::devchain::{self, Anvil, AnvilOptions};
use payscan_chain::abi::{IERC20FeeProxy, IERC20};
use payscan_core::DerivationIndex;
use payscan_custody::Deriver;
use serde_json::{json, Value};

use crate::harness::{Chain, MNEMONIC};

/// Payments whose derived addresses the fixture pays (indices `0..PAID`).
pub const PAID: usize = 100;

/// What a fixture holds, beside its state.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub dir: PathBuf,
    /// Blocks of transfers asked for (the chain's head is a few setup blocks past it).
    pub blocks: u64,
    pub per_block: u64,
    pub logs: u64,
    pub usdc: Address,
    pub usdt: Address,
    pub proxy: Address,
}

impl Fixture {
    fn meta(&self) -> Value {
        json!({
            "blocks": self.blocks, "perBlock": self.per_block, "logs": self.logs, "usdc": self.usdc, "usdt": self.usdt, "proxy": self.proxy,
        })
    }

    /// The fixture in `dir`, if one was generated with these sizes.
    pub fn load(dir: &Path, blocks: u64, per_block: u64) -> anyhow::Result<Option<Self>> {
        let Ok(text) = std::fs::read_to_string(dir.join(format!("fixture-{blocks}x{per_block}.json"))) else {
            return Ok(None);
        };
        let meta: Value = serde_json::from_str(&text)?;
        let address = |k: &str| -> anyhow::Result<Address> { Ok(meta[k].as_str().unwrap_or_default().parse()?) };
        Ok(Some(Self {
            dir: dir.to_owned(),
            blocks,
            per_block,
            logs: meta["logs"].as_u64().unwrap_or_default(),
            usdc: address("usdc")?,
            usdt: address("usdt")?,
            proxy: address("proxy")?,
        }))
    }

    fn state_path(dir: &Path, blocks: u64, per_block: u64) -> PathBuf {
        dir.join(format!("state-{blocks}x{per_block}.json"))
    }

    /// A fresh anvil holding the fixture's chain.
    pub async fn start(&self) -> anyhow::Result<Chain> {
        let path = Self::state_path(&self.dir, self.blocks, self.per_block);
        anyhow::ensure!(path.is_file(), "{} is missing: generate the fixture again", path.display());
        let anvil = Anvil::spawn(AnvilOptions { load_state: Some(path), ..AnvilOptions::default() }).await?;
        let head = anvil.head().await?;
        anyhow::ensure!(head >= self.blocks, "the loaded chain ends at {head}, not {}", self.blocks);
        let accounts = anvil.accounts().await?;
        Ok(Chain { anvil, usdc: self.usdc, usdt: self.usdt, proxy: self.proxy, accounts })
    }
}

/// Generates the fixture into `dir` (or finds it there) and returns it.
pub async fn generate(dir: &Path, blocks: u64, per_block: u64) -> anyhow::Result<Fixture> {
    if let Some(fixture) = Fixture::load(dir, blocks, per_block)? {
        return Ok(fixture);
    }
    std::fs::create_dir_all(dir)?;
    let started = Instant::now();
    let chain = Chain::start(AnvilOptions { accounts: 10, ..AnvilOptions::default() }).await?;
    let provider = chain.anvil.provider();
    let senders = &chain.accounts[1..];
    let amount = U256::from(10u64).pow(U256::from(30u64));
    for &sender in senders {
        devchain::mint(provider, chain.usdc, sender, sender, amount).await?;
        devchain::mint(provider, chain.usdt, sender, sender, amount).await?;
        let approve = IERC20::approveCall { spender: chain.proxy, amount: U256::MAX };
        let request =
            TransactionRequest::default().with_from(sender).with_to(chain.usdc).with_input(approve.abi_encode());
        devchain::send(provider, request).await?;
    }
    let deriver = Deriver::from_mnemonic(MNEMONIC)?;
    let paid: Vec<Address> = (0..PAID as u32)
        .map(|i| DerivationIndex::new(i).ok_or_else(|| anyhow::anyhow!("index")).and_then(|i| Ok(deriver.derive(i)?)))
        .collect::<anyhow::Result<_>>()?;

    let _: Value = provider.raw_request("evm_setAutomine".into(), (false,)).await?;
    let mut n = 0u64;
    let mut last_report = Instant::now();
    for block in 0..blocks {
        for k in 0..per_block {
            n += 1;
            let sender = senders[(n as usize) % senders.len()];
            let request = if k == 0 && block % 10 == 0 {
                // A fee-proxy payment under a reference no payment has.
                let reference = Bytes::copy_from_slice(&keccak256(n.to_be_bytes())[..8]);
                let call = IERC20FeeProxy::transferFromWithReferenceAndFeeCall {
                    _tokenAddress: chain.usdc,
                    _to: Address::from_slice(&keccak256((n + 1).to_be_bytes())[12..]),
                    _amount: U256::from(1_000_000u64),
                    _paymentReference: reference,
                    _feeAmount: U256::ZERO,
                    _feeAddress: Address::ZERO,
                };
                TransactionRequest::default().with_from(sender).with_to(chain.proxy).with_input(call.abi_encode())
            } else {
                let to = if n % 10 == 0 {
                    paid[(n / 10) as usize % PAID]
                } else {
                    Address::from_slice(&keccak256(n.to_be_bytes())[12..])
                };
                let token = if n % 2 == 0 { chain.usdc } else { chain.usdt };
                let call = IERC20::transferCall { to, amount: U256::from(1_000u64 + n) };
                TransactionRequest::default().with_from(sender).with_to(token).with_input(call.abi_encode())
            };
            // Into the pool only: the block is mined below, with the others.
            let _pooled = provider.send_transaction(request.with_gas_limit(200_000)).await?;
        }
        chain.anvil.mine(1).await?;
        if last_report.elapsed().as_secs() >= 10 {
            eprintln!("fixture: block {block} of {blocks} ({:.0} s)", started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
    }
    // anvil_dumpState answers gzip'd JSON as hex; --load-state reads the JSON.
    let state: String = provider.raw_request("anvil_dumpState".into(), ()).await?;
    let state = alloy::hex::decode(state.trim())?;
    let head = chain.anvil.head().await?;
    // Every log payscan's filter matches, setup mints included, counted by the node itself.
    let filter = json!([{ "fromBlock": "0x0", "toBlock": format!("{head:#x}"),
        "address": [chain.usdc, chain.usdt, chain.proxy], "topics": [crate::backfill::topics()] }]);
    let all: Vec<Value> = provider.raw_request("eth_getLogs".into(), filter).await?;
    let logs = all.len() as u64;
    let json = Fixture::state_path(dir, blocks, per_block);
    let gz = json.with_extension("json.gz");
    std::fs::write(&gz, state)?;
    let status = std::process::Command::new("gzip").arg("-df").arg(&gz).status().context("gzip")?;
    anyhow::ensure!(status.success() && json.is_file(), "gzip -d {} failed", gz.display());
    let fixture = Fixture {
        dir: dir.to_owned(),
        blocks,
        per_block,
        logs,
        usdc: chain.usdc,
        usdt: chain.usdt,
        proxy: chain.proxy,
    };
    std::fs::write(dir.join(format!("fixture-{blocks}x{per_block}.json")), fixture.meta().to_string())?;
    eprintln!("fixture: {head} blocks, {logs} logs, generated in {:.0} s", started.elapsed().as_secs_f64());
    Ok(fixture)
}
