//! A local anvil chain with payscan's test tokens: what `payscan dev` runs and what the end-to-end
//! tests run against. anvil comes from the npm package `@foundry-rs/anvil` and the contracts are
//! compiled with solc-js, both installed by `scripts/install-tools.sh`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::{Provider, RootProvider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolValue};
use anyhow::{bail, Context};
use payscan_chain::abi::IERC20;
use payscan_chain::Endpoints;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

alloy::sol! {
    /// What payscan's test tokens (contracts/src) add to ERC-20.
    interface ITestToken {
        function mint(address to, uint256 amount) external;
    }
}

/// How long a call to the local node may take: deployments and mining included.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A provider of the local node at `url`, built as every payscan provider is; without retries, so
/// that a transaction sent from an unlocked account never goes out twice.
pub fn connect(url: &str) -> anyhow::Result<RootProvider> {
    Ok(Endpoints::new(&[url], CALL_TIMEOUT).retries(0).connect()?)
}

/// Where the npm tools and compiled contracts live.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("PAYSCAN_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts"))
}

/// The anvil binary: `PAYSCAN_ANVIL`, else the npm package's platform binary, else `anvil` on PATH.
pub fn anvil_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("PAYSCAN_ANVIL") {
        return PathBuf::from(path);
    }
    let scope = tools_dir().join("node_modules/@foundry-rs");
    if let Ok(entries) = std::fs::read_dir(&scope) {
        for entry in entries.flatten() {
            let candidate = entry.path().join("bin/anvil");
            if entry.file_name().to_string_lossy().starts_with("anvil-") && candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("anvil")
}

/// How to start anvil.
#[derive(Clone)]
pub struct AnvilOptions {
    pub chain_id: u64,
    /// Mine a block every N seconds; `None` mines one per transaction.
    pub block_time: Option<u64>,
    pub port: Option<u16>,
    pub mnemonic: Option<String>,
    pub accounts: u32,
    /// Mine on demand only (`--no-mining`): transactions wait in the pool.
    pub no_mining: bool,
    /// Start from a state anvil dumped (`--load-state`), its blocks and receipts included.
    pub load_state: Option<PathBuf>,
}

impl std::fmt::Debug for AnvilOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnvilOptions")
            .field("chain_id", &self.chain_id)
            .field("block_time", &self.block_time)
            .field("port", &self.port)
            .field("mnemonic", &self.mnemonic.as_ref().map(|_| "[REDACTED]"))
            .field("accounts", &self.accounts)
            .field("no_mining", &self.no_mining)
            .field("load_state", &self.load_state)
            .finish()
    }
}

impl Default for AnvilOptions {
    fn default() -> Self {
        Self {
            chain_id: 31337,
            block_time: None,
            port: None,
            mnemonic: None,
            accounts: 10,
            no_mining: false,
            load_state: None,
        }
    }
}

/// A running anvil node; killed when dropped.
pub struct Anvil {
    child: Child,
    pub url: String,
    pub chain_id: u64,
    provider: RootProvider,
}

impl Anvil {
    pub async fn spawn(options: AnvilOptions) -> anyhow::Result<Self> {
        crate::telemetry::install_tls_provider();
        // Port 0 unless asked otherwise: anvil binds a free port itself and says which, so no
        // other process can take it between a pick and the bind.
        let port = options.port.unwrap_or(0);
        let binary = anvil_binary();
        let mut command = Command::new(&binary);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chain-id", &options.chain_id.to_string()])
            .args(["--accounts", &options.accounts.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(seconds) = options.block_time {
            command.args(["--block-time", &seconds.to_string()]);
        }
        if options.no_mining {
            command.arg("--no-mining");
        }
        if let Some(mnemonic) = &options.mnemonic {
            command.args(["--mnemonic", mnemonic]);
        }
        if let Some(state) = &options.load_state {
            command.arg("--load-state").arg(state);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {} (run scripts/install-tools.sh)", binary.display()))?;
        let stdout = child.stdout.take().context("anvil's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let listening = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(address) = line.trim().strip_prefix("Listening on ") {
                    return Ok::<_, std::io::Error>(Some(address.trim().to_owned()));
                }
            }
            Ok(None)
        })
        .await;
        let address = match listening {
            Ok(Ok(Some(address))) => address,
            _ => bail!("anvil ({}) did not say where it listens", binary.display()),
        };
        // anvil logs every call: keep reading so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = format!("http://{address}");
        let provider = connect(&url)?;
        let anvil = Self { child, url, chain_id: options.chain_id, provider };
        for _ in 0..200 {
            if anvil.provider.get_chain_id().await.is_ok() {
                return Ok(anvil);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("anvil did not answer at {address}")
    }

    pub fn provider(&self) -> &RootProvider {
        &self.provider
    }

    /// The node's unlocked accounts.
    pub async fn accounts(&self) -> anyhow::Result<Vec<Address>> {
        Ok(self.provider.get_accounts().await?)
    }

    /// Mines `blocks` blocks at once.
    pub async fn mine(&self, blocks: u64) -> anyhow::Result<()> {
        let _: serde_json::Value = self.provider.raw_request("anvil_mine".into(), (U256::from(blocks),)).await?;
        Ok(())
    }

    pub async fn head(&self) -> anyhow::Result<u64> {
        Ok(self.provider.get_block_number().await?)
    }

    /// Replaces the newest `depth` blocks with as many new ones, holding the given signed
    /// transactions at their offsets from the common ancestor (0 = the first new block).
    pub async fn reorg(&self, depth: u64, transactions: &[(Bytes, u64)]) -> anyhow::Result<()> {
        let pairs: Vec<serde_json::Value> =
            transactions.iter().map(|(raw, offset)| serde_json::json!([raw, offset])).collect();
        let _: serde_json::Value = self.provider.raw_request("anvil_reorg".into(), (depth, pairs)).await?;
        Ok(())
    }

    /// A mined transaction as signed, to replay it in another block.
    pub async fn raw_transaction(&self, hash: B256) -> anyhow::Result<Bytes> {
        let raw: Option<Bytes> = self.provider.raw_request("eth_getRawTransactionByHash".into(), (hash,)).await?;
        raw.context("no such transaction")
    }

    /// `evm_snapshot`: an id to return to.
    pub async fn snapshot(&self) -> anyhow::Result<U256> {
        Ok(self.provider.raw_request("evm_snapshot".into(), ()).await?)
    }

    /// `evm_revert`: back to a snapshot, dropping every block since.
    pub async fn revert(&self, snapshot: U256) -> anyhow::Result<()> {
        let reverted: bool = self.provider.raw_request("evm_revert".into(), (snapshot,)).await?;
        anyhow::ensure!(reverted, "evm_revert refused snapshot {snapshot}");
        Ok(())
    }

    /// Stops the node (as `kill -9` would).
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

/// A compiled contract's creation code (`contracts/out/<name>.json`).
pub fn bytecode(name: &str) -> anyhow::Result<Bytes> {
    let path = tools_dir().join("out").join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{} is missing (run scripts/install-tools.sh)", path.display()))?;
    let artifact: serde_json::Value = serde_json::from_str(&text)?;
    let hex = artifact["bytecode"].as_str().with_context(|| format!("{} has no bytecode", path.display()))?;
    Ok(hex.parse()?)
}

/// Sends a transaction from an unlocked account and waits for its successful receipt.
pub async fn send(provider: &RootProvider, request: TransactionRequest) -> anyhow::Result<(B256, Option<Address>)> {
    let receipt = provider.send_transaction(request).await?.get_receipt().await?;
    if !receipt.status() {
        bail!("transaction {} reverted", receipt.transaction_hash);
    }
    Ok((receipt.transaction_hash, receipt.contract_address))
}

/// Deploys `TestToken` (EIP-2612 permit) or `PlainToken` with the given decimals.
pub async fn deploy_token(
    provider: &RootProvider,
    from: Address,
    contract: &str,
    name: &str,
    symbol: &str,
    decimals: u8,
) -> anyhow::Result<Address> {
    // uint8 is ABI-encoded as one 32-byte word, as a uint256 is.
    let args = (name.to_owned(), symbol.to_owned(), U256::from(decimals)).abi_encode_params();
    deploy(provider, from, contract, &args).await
}

/// Deploys a compiled contract with its ABI-encoded constructor arguments.
pub async fn deploy(provider: &RootProvider, from: Address, contract: &str, args: &[u8]) -> anyhow::Result<Address> {
    let mut code = bytecode(contract)?.to_vec();
    code.extend_from_slice(args);
    let request = TransactionRequest::default().with_from(from).with_deploy_code(code);
    let (_, address) = send(provider, request).await?;
    address.context("deployment returned no contract address")
}

/// Mints test tokens.
pub async fn mint(
    provider: &RootProvider,
    token: Address,
    from: Address,
    to: Address,
    amount: U256,
) -> anyhow::Result<B256> {
    call(provider, from, token, ITestToken::mintCall { to, amount }).await
}

/// Calls a contract from an unlocked account and waits for success.
pub async fn call(
    provider: &RootProvider,
    from: Address,
    contract: Address,
    call: impl SolCall,
) -> anyhow::Result<B256> {
    let request = TransactionRequest::default().with_from(from).with_to(contract).with_input(call.abi_encode());
    Ok(send(provider, request).await?.0)
}

/// An ERC-20 `transfer` from an unlocked account.
pub async fn transfer(
    provider: &RootProvider,
    token: Address,
    from: Address,
    to: Address,
    amount: U256,
) -> anyhow::Result<B256> {
    call(provider, from, token, IERC20::transferCall { to, amount }).await
}

/// A token balance in the newest block.
pub async fn balance_of(provider: &RootProvider, token: Address, owner: Address) -> anyhow::Result<U256> {
    Ok(payscan_chain::read::token_balance(provider, token, owner).await?)
}
