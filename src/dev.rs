//! `payscan dev`: a local anvil chain with test tokens, payscan on SQLite, and what to paste next.
//! `payscan dev pay <paymentId>` pays a payment from an anvil account and follows it to the end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use anyhow::{bail, Context};
use jsonwebtoken::{EncodingKey, Header};
use payscan_core::config::Config;
use payscan_core::webhook::WebhookSecret;
use payscan_core::{clock, BaseUnits};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::devchain::{self, Anvil, AnvilOptions};
use crate::Application;

/// The BIP-39 test-vector mnemonic: public, so only ever for a local chain.
pub const DEV_MNEMONIC: &str =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

const DEV_CHAIN_ID: u64 = 31337;

/// What `payscan dev pay` needs to find the running dev setup.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DevState {
    api_url: String,
    rpc_url: String,
    buyer_token: String,
    admin_token: String,
}

impl std::fmt::Debug for DevState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevState")
            .field("api_url", &self.api_url)
            .field("rpc_url", &payscan_core::redact::RedactedUrl(&self.rpc_url))
            .field("buyer_token", &"[REDACTED]")
            .field("admin_token", &"[REDACTED]")
            .finish()
    }
}

/// Signs an API token (HS256) for `sub` with `role`.
pub fn token(secret: &str, sub: &str, role: &str, ttl: Duration) -> anyhow::Result<String> {
    let exp = clock::now_ms() / 1000 + i64::try_from(ttl.as_secs())?;
    let claims = json!({ "sub": sub, "role": role, "exp": exp });
    Ok(jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes()))?)
}

/// Installs anvil, solc-js and compiles the contracts when they are missing.
fn ensure_tools() -> anyhow::Result<()> {
    let ready = devchain::anvil_binary().is_file() && devchain::tools_dir().join("out/TestToken.json").is_file();
    if ready {
        return Ok(());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-tools.sh");
    eprintln!("installing anvil and solc-js ({}) …", script.display());
    let status = std::process::Command::new("bash").arg(&script).status().context("cannot run install-tools.sh")?;
    if !status.success() {
        bail!("{} failed", script.display());
    }
    Ok(())
}

/// Runs the dev setup until Ctrl-C.
pub async fn run(dir: PathBuf, port: u16) -> anyhow::Result<()> {
    ensure_tools()?;
    std::fs::create_dir_all(&dir)?;
    for stale in ["payscan.db", "payscan.db-wal", "payscan.db-shm"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }

    let anvil =
        Anvil::spawn(AnvilOptions { chain_id: DEV_CHAIN_ID, block_time: Some(1), ..Default::default() }).await?;
    let deployer = *anvil.accounts().await?.first().context("anvil has no accounts")?;
    let usdc = devchain::deploy_token(anvil.provider(), deployer, "TestToken", "USD Coin", "USDC", 6).await?;
    let usdt = devchain::deploy_token(anvil.provider(), deployer, "PlainToken", "Tether USD", "USDT", 6).await?;
    let fee_proxy = devchain::deploy(anvil.provider(), deployer, "ERC20FeeProxy", &[]).await?;

    let chains = json!([{
        "chainId": DEV_CHAIN_ID, "name": "Anvil (local)", "shortName": "ANVIL", "rpcUrl": anvil.url,
        "wsUrl": anvil.url.replacen("http://", "ws://", 1),
        "proxyAddress": fee_proxy.to_checksum(None),
        "nativeCurrency": { "name": "Ether", "symbol": "ETH", "decimals": 18 },
        "confirmationThreshold": 3, "confirmationFloor": 1
    }]);
    let tokens = json!({ DEV_CHAIN_ID.to_string(): [
        { "address": usdt.to_checksum(None), "symbol": "USDT", "decimals": 6, "name": "Tether USD" },
        { "address": usdc.to_checksum(None), "symbol": "USDC", "decimals": 6, "name": "USD Coin",
          "permit": { "name": "USD Coin", "version": "1" } }
    ]});
    let chains_path = dir.join("chains.json");
    let tokens_path = dir.join("tokens.json");
    std::fs::write(&chains_path, serde_json::to_string_pretty(&chains)?)?;
    std::fs::write(&tokens_path, serde_json::to_string_pretty(&tokens)?)?;

    let jwt_secret = alloy::hex::encode(rand::random::<[u8; 32]>());
    let env: HashMap<String, String> = [
        ("DATABASE_URL", format!("sqlite://{}", dir.join("payscan.db").display())),
        ("PAYSCAN_LISTEN", format!("127.0.0.1:{port}")),
        ("PAYSCAN_CHAINS", chains_path.display().to_string()),
        ("PAYSCAN_TOKENS", tokens_path.display().to_string()),
        ("PAYSCAN_MNEMONIC", DEV_MNEMONIC.to_owned()),
        ("PAYSCAN_JWT_SECRET", jwt_secret.clone()),
        ("PAYSCAN_WEBHOOK_SECRET", WebhookSecret::generate()),
        ("PAYSCAN_WEBHOOK_RETRY", "2s,5s,10s".to_owned()),
        // Everything of a dev setup listens on this machine.
        ("PAYSCAN_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,::1".to_owned()),
        ("PAYSCAN_POLL_MS", "500".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = Config::from_sources(&env, None)?;
    let app = Application::build(config).await?;
    let api_url = format!("http://{}", app.address());

    let day = Duration::from_secs(24 * 3600);
    let state = DevState {
        api_url: api_url.clone(),
        rpc_url: anvil.url.clone(),
        buyer_token: token(&jwt_secret, "buyer-1", "buyer", day)?,
        admin_token: token(&jwt_secret, "admin", "admin", day)?,
    };
    std::fs::write(dir.join("state.json"), serde_json::to_string_pretty(&state)?)?;

    println!(
        "\npayscan dev is running: API {api_url}, anvil {rpc} (chain {DEV_CHAIN_ID}, a block a second, \
         threshold 3)\nTokens: USDT {usdt} (plain ERC-20), USDC {usdc} (EIP-2612). Dev keys only: never use them \
         on a real chain.\n\n1. Create a payment intent (as buyer-1):\n\n  curl -s -X POST {api_url}/api/payment/request-network/intents \\\n    \
         -H 'Authorization: Bearer {buyer}' -H 'Content-Type: application/json' \\\n    \
         -d '{{\"purchaseRequestId\":\"pr-1\",\"sellerOfferId\":\"offer-1\",\"sellerId\":\"seller-1\",\"amount\":\"12.5\",\"token\":\"USDT\",\"network\":\"anvil\"}}'\n\n\
         2. Pay it (in another terminal, with the paymentId from step 1):\n\n  cargo run --release -- dev pay <paymentId>\n\n\
         Watch this log: the transfer is seen (processing), confirmed (completed), and each webhook arrives signed at \
         payscan's own receiver. Ctrl-C stops everything.\n",
        rpc = anvil.url,
        buyer = state.buyer_token,
    );
    app.run_until_stopped().await?;
    drop(anvil);
    Ok(())
}

/// Pays a payment from anvil's second account (minting the tokens first) and follows it.
pub async fn pay(dir: PathBuf, payment_id: &str, amount: Option<String>) -> anyhow::Result<()> {
    let state_path = dir.join("state.json");
    let state: DevState = serde_json::from_str(
        &std::fs::read_to_string(&state_path)
            .with_context(|| format!("{} not found: is `payscan dev` running?", state_path.display()))?,
    )?;
    let http = reqwest::Client::new();
    let fetch = |id: String| {
        let http = http.clone();
        let url = format!("{}/api/payment/{id}", state.api_url);
        let auth = format!("Bearer {}", state.admin_token);
        async move {
            let response = http.get(url).header("Authorization", auth).send().await?;
            let status = response.status();
            let body: Value = response.json().await?;
            if !status.is_success() {
                bail!("payscan answered {status}: {body}");
            }
            Ok::<_, anyhow::Error>(body["data"].clone())
        }
    };
    let payment = fetch(payment_id.to_owned()).await?;
    let destination: Address = payment["destination"].as_str().context("no destination")?.parse()?;
    let token: Address = payment["token"]["address"].as_str().context("no token")?.parse()?;
    let decimals = payment["token"]["decimals"].as_u64().context("no decimals")? as u8;
    let value = match amount {
        Some(text) => BaseUnits::parse_token_units(&text, decimals)?,
        None => payment["amountBaseUnits"].as_str().context("no amount")?.parse()?,
    };

    let provider = devchain::connect(&state.rpc_url)?;
    let payer = *provider.get_accounts().await?.get(1).context("anvil has no second account")?;
    devchain::mint(&provider, token, payer, payer, value.0).await?;
    let tx = devchain::transfer(&provider, token, payer, destination, U256::from(value.0)).await?;
    println!(
        "sent {} {} from {payer} to {destination} in {tx}",
        value.to_token_units(decimals),
        payment["token"]["symbol"].as_str().unwrap_or("")
    );

    let mut last = String::new();
    for _ in 0..120 {
        let payment = fetch(payment_id.to_owned()).await?;
        let line = format!(
            "status {} · confirmations {}/{} · received {}",
            payment["status"].as_str().unwrap_or("?"),
            payment["confirmations"],
            payment["threshold"],
            payment["amountReceived"].as_str().unwrap_or("?")
        );
        if line != last {
            println!("{line}");
            last = line;
        }
        if payment["status"] == "completed" || payment["underpaid"] == true {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    bail!("payment did not complete within a minute")
}
