//! The payscan binary: parses the command line and hands over to the library.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use payscan::{dev, ops, telemetry, Application};
use payscan_core::config::Config;

/// Self-hosted stablecoin payments on EVM chains.
#[derive(Debug, Parser)]
#[command(name = "payscan", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon against the chains in chains.json (configuration from the environment and
    /// payscan.toml; see README).
    Serve {
        /// api (HTTP only), scanner (followers, webhooks, payouts, sweeps) or all (the default,
        /// or PAYSCAN_ROLE).
        #[arg(long)]
        role: Option<payscan_core::config::Role>,
    },
    /// Run a local anvil chain with test tokens and payscan on SQLite, and print what to try.
    Dev {
        /// Port of payscan's HTTP API.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Where the dev chain's registry, database and tokens are written.
        #[arg(long, default_value = ".payscan-dev")]
        dir: PathBuf,
        #[command(subcommand)]
        action: Option<DevAction>,
    },
    /// Create or upgrade the database schema (DATABASE_URL) and exit.
    Migrate,
    /// Print the destination address of a derivation index (from PAYSCAN_XPUB).
    Derive {
        /// The last, non-hardened index of m/44'/60'/0'/0/i.
        index: u32,
    },
    /// The chain and token registry.
    Registry {
        #[command(subcommand)]
        action: RegistryAction,
    },
    /// The webhook outbox.
    Outbox {
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// Print the OpenAPI 3.1 document of the HTTP API (what openapi.json at the repository root
    /// holds, and what /api/openapi.json serves).
    Openapi,
}

#[derive(Debug, Subcommand)]
enum RegistryAction {
    /// Validate PAYSCAN_CHAINS and PAYSCAN_TOKENS as a reload would, and summarize them.
    Check,
}

#[derive(Debug, Subcommand)]
enum OutboxAction {
    /// List webhook deliveries in one status.
    List {
        /// pending, delivered, manual_review or gone.
        #[arg(long, default_value = "manual_review")]
        status: String,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Give deliveries in manual review a fresh retry schedule (a running daemon sends them).
    Retry,
}

#[derive(Debug, Subcommand)]
enum DevAction {
    /// Pay a payment from an anvil account and follow it until it completes.
    Pay {
        payment_id: String,
        /// Amount in token units (default: the payment's amount).
        #[arg(long)]
        amount: Option<String>,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    telemetry::init();
    telemetry::install_tls_provider();
    let outcome = match cli.command {
        Command::Serve { role } => serve(role).await,
        Command::Dev { port, dir, action: None } => dev::run(dir, port).await,
        Command::Dev { dir, action: Some(DevAction::Pay { payment_id, amount }), .. } => {
            dev::pay(dir, &payment_id, amount).await
        }
        Command::Migrate => ops::migrate().await,
        Command::Derive { index } => ops::derive(index),
        Command::Registry { action: RegistryAction::Check } => ops::registry_check(),
        Command::Outbox { action: OutboxAction::List { status, limit } } => ops::outbox_list(&status, limit).await,
        Command::Outbox { action: OutboxAction::Retry } => ops::outbox_retry().await,
        Command::Openapi => payscan_api::openapi_document().map(|document| println!("{document}")).map_err(Into::into),
    };
    // One line naming what stopped payscan, e.g. `payscan: PAYSCAN_LISTEN: `x` is not host:port`.
    if let Err(e) = outcome {
        eprintln!("payscan: {e:#}");
        std::process::exit(2);
    }
}

async fn serve(role: Option<payscan_core::config::Role>) -> anyhow::Result<()> {
    let mut config = Config::load()?;
    if let Some(role) = role {
        config.role = role;
    }
    Application::build(config).await?.run_until_stopped().await
}
