//! Configuration: each setting from its environment variable, else from `payscan.toml`, else its
//! default; validated once at start-up. A bad or missing setting is one error naming it.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use secrecy::SecretString;

use crate::outbound::{self, OutboundPolicy};
use crate::quote::QuoteSettings;
use crate::redact::{RedactedOverrides, RedactedUrls};
use crate::webhook::WebhookSecret;
use crate::{BaseUnits, ChainId};

/// Every setting: environment variable, `payscan.toml` key, default, meaning. The README's table is
/// this table.
pub const SETTINGS: &[(&str, &str, &str, &str)] = &[
    (
        "DATABASE_URL",
        "database_url",
        "sqlite://payscan.db",
        "SQLite file (created and migrated at start) or postgres://…",
    ),
    ("PAYSCAN_LISTEN", "listen", "127.0.0.1:8080", "address the HTTP API listens on"),
    ("PAYSCAN_CHAINS", "chains", "./chains.json", "chain registry file"),
    ("PAYSCAN_TOKENS", "tokens", "./tokens.json", "token registry file"),
    (
        "PAYSCAN_RPC_<chainId>",
        "rpc.<chainId>",
        "",
        "overrides that chain's RPC endpoints (comma-separated, preferred first)",
    ),
    ("PAYSCAN_XPUB", "xpub", "", "account-level xpub of m/44'/60'/0' (this, PAYSCAN_MNEMONIC or PAYSCAN_XPRV)"),
    ("PAYSCAN_MNEMONIC", "mnemonic", "", "BIP-39 mnemonic; its m/44'/60'/0' xpub is used when PAYSCAN_XPUB is unset"),
    (
        "PAYSCAN_XPRV",
        "xprv",
        "",
        "account-level xprv of m/44'/60'/0', instead of a mnemonic: the local signer's destination keys",
    ),
    (
        "PAYSCAN_JWT_SECRET",
        "jwt_secret",
        "",
        "HS256 key of API tokens (at least 32 bytes); claims sub, role buyer|admin, exp",
    ),
    (
        "PAYSCAN_WEBHOOK_SECRET",
        "webhook_secret",
        "",
        "whsec_… Standard Webhooks signing secret, at least 24 bytes once base64-decoded (shorter stops start-up)",
    ),
    (
        "PAYSCAN_WEBHOOK_TARGETS",
        "webhook_targets",
        "",
        "comma-separated URLs that receive webhooks besides payscan's own receiver",
    ),
    ("PAYSCAN_SELF_WEBHOOK", "self_webhook", "true", "also deliver to payscan's own /api/payment/amn-scanner/webhook"),
    ("PAYSCAN_WEBHOOK_RETRY", "webhook_retry", "30s,60s,120s", "delays between delivery attempts; then manual_review"),
    ("PAYSCAN_WEBHOOK_TIMEOUT", "webhook_timeout", "10s", "time a target has to answer one delivery"),
    (
        "PAYSCAN_WEBHOOK_ALLOW_NETWORKS",
        "webhook_allow_networks",
        "",
        "networks (`127.0.0.0/8,::1`) webhook targets may reach although loopback, link-local, private or unspecified; others are refused",
    ),
    (
        "PAYSCAN_WEBHOOK_CONCURRENCY",
        "webhook_concurrency",
        "256",
        "deliveries in flight to one target at a time; a slow target waits on its own slots only",
    ),
    ("PAYSCAN_POLL_MS", "poll_ms", "2000", "how often each chain follower polls its RPC, in ms"),
    ("PAYSCAN_MAX_BLOCK_RANGE", "max_block_range", "2000", "largest eth_getLogs block range a follower asks for"),
    ("PAYSCAN_RPC_TIMEOUT", "rpc_timeout", "10s", "time one RPC call may take before the endpoint counts as failing"),
    (
        "PAYSCAN_RPC_MAX_ANSWER_BYTES",
        "rpc_max_answer_bytes",
        "67108864",
        "largest RPC answer a follower reads (64 MiB); a larger one is refused unread as a failure of that endpoint",
    ),
    (
        "PAYSCAN_MAX_REORG_DEPTH",
        "max_reorg_depth",
        "128",
        "deepest reorg a follower unwinds; deeper stops the chain for an operator",
    ),
    ("PAYSCAN_PAYMENT_TTL", "payment_ttl", "1h", "how long a new payment's expiresAt lies ahead"),
    (
        "PAYSCAN_EXPIRY_INTERVAL",
        "expiry_interval",
        "30s",
        "how often expired pending payments are cancelled (once their chain is scanned past expiresAt)",
    ),
    (
        "PAYSCAN_WATCH_WINDOW",
        "watch_window",
        "24h",
        "how long a cancelled or failed payment's address stays watched (late money recorded and announced)",
    ),
    (
        "PAYSCAN_ROLE",
        "role",
        "all",
        "api (HTTP only), scanner (followers, webhooks, payouts, sweeps) or all; `serve --role` overrides it",
    ),
    (
        "PAYSCAN_LEASE_TTL",
        "lease_ttl",
        "10s",
        "on PostgreSQL, a chain whose follower stops renewing its lease this long is taken over",
    ),
    (
        "ORACLE_QUOTING_ENABLED",
        "oracle_quoting_enabled",
        "false",
        "intents take `amount` in USD and settle in the token at its priceFeed's rate (a quote)",
    ),
    ("PAYSCAN_ORACLE_MAX_AGE", "oracle_max_age", "1h", "a price feed answer older than this is stale: 503"),
    (
        "PAYSCAN_DEPEG_HARD_CAP_BPS",
        "depeg_hard_cap_bps",
        "200",
        "no quote for a token further than this from $1, in basis points: 422",
    ),
    ("PAYSCAN_QUOTE_ROUNDING_BPS", "quote_rounding_bps", "0", "margin added on top of a quote's exact amount, in bps"),
    ("PAYSCAN_QUOTE_TTL", "quote_ttl", "15m", "how long a quote holds"),
    (
        "PAYSCAN_RN_PAYEE",
        "rn_payee",
        "",
        "the address Request Network payments are paid to (default: each payment's own derived address)",
    ),
    (
        "PAYSCAN_SIGNER",
        "signer",
        "build-only",
        "local (keys derived from PAYSCAN_MNEMONIC or PAYSCAN_XPRV) or build-only (unsigned payloads for an external signer)",
    ),
    ("PAYSCAN_MASTER_WALLET", "master_wallet", "", "address that sweeps move deposits to"),
    (
        "PAYSCAN_SWEEP_INTERVAL",
        "sweep_interval",
        "10m",
        "how often the sweep cron sweeps every completed payment's destination",
    ),
    (
        "PAYSCAN_SWEEP_CRON",
        "sweep_cron",
        "false",
        "start the sweep cron at boot (admins can start and stop it at run time)",
    ),
    ("PAYSCAN_RELAYER_KEY", "relayer_key", "", "hex private key that pays gas (sweep top-ups, permit relays)"),
    ("PAYSCAN_PAYOUT_KEY", "payout_key", "", "hex private key payouts are sent from (default: the relayer key)"),
    (
        "PAYSCAN_PAYOUT_RETRY",
        "payout_retry",
        "30s,60s,120s",
        "delays before each retry of a failed payout; then MANUAL_REVIEW",
    ),
    (
        "PAYSCAN_PAYOUT_MIN",
        "payout_min",
        "",
        "per-token payout minimums in token units, e.g. USDC=5,USDT=5; below is a 400",
    ),
    (
        "PAYSCAN_MAX_FEE_GWEI",
        "max_fee_gwei",
        "1000",
        "no transaction payscan sends pays more per gas than this, however long it waits",
    ),
    (
        "PAYSCAN_TX_REPLACE_AFTER",
        "tx_replace_after",
        "60s",
        "a sent transaction still unmined after this is replaced with a higher fee",
    ),
    (
        "PAYSCAN_SWEEP_MAX_GAS_COST",
        "sweep_max_gas_cost",
        "",
        "skip a sweep whose gas would cost more than this, in native coin units (e.g. 0.002)",
    ),
    (
        "PAYSCAN_RATE_LIMIT_INTENTS",
        "rate_limit_intents",
        "30/m",
        "intents and pay-ins one buyer may create, as count/period (s, m, h) or off; past it 429 RATE_LIMITED",
    ),
    (
        "PAYSCAN_RATE_LIMIT_PERMITS",
        "rate_limit_permits",
        "5/m",
        "permit relays one buyer may ask for, as count/period or off; past it 429 RATE_LIMITED",
    ),
    (
        "PAYSCAN_SSE_MAX_STREAMS",
        "sse_max_streams",
        "1000",
        "event streams one instance keeps open at once; past it 503 TOO_MANY_STREAMS",
    ),
];

/// Which keys destinations are derived from.
#[derive(Clone)]
pub struct KeySource {
    /// Account-level extended public key of m/44'/60'/0'.
    pub xpub: Option<String>,
    /// Mnemonic; the xpub is derived from it when `xpub` is unset.
    pub mnemonic: Option<SecretString>,
    /// Account-level extended private key of m/44'/60'/0', instead of a mnemonic.
    pub xprv: Option<SecretString>,
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySource")
            .field("xpub", &self.xpub)
            .field("mnemonic", &self.mnemonic.as_ref().map(|_| "[REDACTED]"))
            .field("xprv", &self.xprv.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// Webhook delivery settings. Target URLs may carry a token: Debug shows their labels.
#[derive(Clone)]
pub struct WebhookConfig {
    pub secret: WebhookSecret,
    pub targets: Vec<String>,
    pub self_target: bool,
    pub retry: Vec<Duration>,
    pub timeout: Duration,
    /// Restricted networks targets may reach nonetheless.
    pub allow_networks: Vec<ipnet::IpNet>,
    /// Deliveries in flight to one target at a time.
    pub concurrency: usize,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &self.secret)
            .field("targets", &RedactedUrls(&self.targets))
            .field("self_target", &self.self_target)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("allow_networks", &self.allow_networks)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

impl WebhookConfig {
    /// The outbound policy webhook targets are held to.
    pub fn policy(&self) -> OutboundPolicy {
        OutboundPolicy::new(self.allow_networks.clone(), ALLOW_NETWORKS)
    }
}

const ALLOW_NETWORKS: &str = "PAYSCAN_WEBHOOK_ALLOW_NETWORKS";

/// Chain follower settings.
#[derive(Debug, Clone)]
pub struct ScannerConfig {
    pub poll_interval: Duration,
    pub max_block_range: u64,
    pub max_reorg_depth: u64,
    pub rpc_timeout: Duration,
    pub rpc_max_answer_bytes: usize,
}

/// A budget of `count` requests per `period`, refilled evenly, all of it usable at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub period: Duration,
}

impl RateLimit {
    /// `30/m`, `5/10s`, `1000/h`; `off` is no limit.
    pub fn parse(s: &str) -> Result<Option<Self>, String> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let bad = || format!("`{s}` is not count/period such as 30/m, or off");
        let (count, period) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?;
        let period = period.trim();
        // `30/m` reads as one minute: a period without a number is one of its unit.
        let period =
            if period.starts_with(|c: char| c.is_ascii_digit()) { period.to_owned() } else { format!("1{period}") };
        let period = parse_duration(&period).map_err(|_| bad())?;
        if period.is_zero() {
            return Err(bad());
        }
        Ok(Some(Self { count, period }))
    }
}

/// Per-caller limits on the routes a buyer could use to exhaust payscan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Each intent can hold a fresh derived address in the watch set.
    pub intents: Option<RateLimit>,
    /// Each relayed permit costs the relayer gas.
    pub permits: Option<RateLimit>,
}

/// What a `payscan serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API only.
    Api,
    /// Followers, webhook dispatch, payouts and sweeps; HTTP serves health and metrics only.
    Scanner,
    All,
}

impl Role {
    pub fn serves_api(self) -> bool {
        matches!(self, Self::Api | Self::All)
    }

    pub fn scans(self) -> bool {
        matches!(self, Self::Scanner | Self::All)
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "api" => Ok(Self::Api),
            "scanner" => Ok(Self::Scanner),
            "all" => Ok(Self::All),
            other => Err(format!("`{other}` is not api, scanner or all")),
        }
    }
}

/// How custody transactions are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    /// payscan signs with keys derived from the mnemonic and broadcasts.
    Local,
    /// payscan returns unsigned transactions and typed data for an external signer.
    BuildOnly,
}

impl SignerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::BuildOnly => "build-only",
        }
    }
}

/// Custody settings. Keys are secrets: held zeroizing, never printed.
#[derive(Clone)]
pub struct CustodyConfig {
    pub signer: SignerKind,
    pub sweep_interval: Duration,
    pub sweep_cron: bool,
    pub master_wallet: Option<Address>,
    pub relayer_key: Option<SecretString>,
    pub payout_key: Option<SecretString>,
    pub payout_retry: Vec<Duration>,
    /// (token symbol, minimum in token units), the symbol upper-cased.
    pub payout_minimums: Vec<(String, String)>,
    /// Wei per gas.
    pub max_fee_per_gas: u128,
    pub replace_after: Duration,
    /// Wei; `None`: no limit.
    pub sweep_max_gas_cost: Option<U256>,
}

impl fmt::Debug for CustodyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |k: &Option<SecretString>| k.as_ref().map(|_| "[REDACTED]");
        f.debug_struct("CustodyConfig")
            .field("signer", &self.signer)
            .field("sweep_interval", &self.sweep_interval)
            .field("sweep_cron", &self.sweep_cron)
            .field("master_wallet", &self.master_wallet)
            .field("relayer_key", &redacted(&self.relayer_key))
            .field("payout_key", &redacted(&self.payout_key))
            .field("payout_retry", &self.payout_retry)
            .field("payout_minimums", &self.payout_minimums)
            .field("max_fee_per_gas", &self.max_fee_per_gas)
            .field("replace_after", &self.replace_after)
            .field("sweep_max_gas_cost", &self.sweep_max_gas_cost)
            .finish()
    }
}

/// The validated configuration. Debug prints no secret: keys as `[REDACTED]`, URLs as their
/// labels (an RPC URL's path, query or userinfo often holds a provider's API key).
#[derive(Clone)]
pub struct Config {
    pub database_url: SecretString,
    pub listen: SocketAddr,
    pub chains_path: PathBuf,
    pub tokens_path: PathBuf,
    pub rpc_overrides: HashMap<ChainId, String>,
    pub keys: KeySource,
    pub jwt_secret: SecretString,
    pub webhook: WebhookConfig,
    pub scanner: ScannerConfig,
    pub payment_ttl: Duration,
    /// How often the expiry task runs.
    pub expiry_interval: Duration,
    /// How long a cancelled or failed payment's address stays watched.
    pub watch_window: Duration,
    pub rn_payee: Option<Address>,
    pub role: Role,
    pub lease_ttl: Duration,
    pub quotes: QuoteSettings,
    pub custody: CustodyConfig,
    pub rate_limits: RateLimits,
    pub sse_max_streams: usize,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &self.database_url)
            .field("listen", &self.listen)
            .field("chains_path", &self.chains_path)
            .field("tokens_path", &self.tokens_path)
            .field("rpc_overrides", &RedactedOverrides(&self.rpc_overrides))
            .field("keys", &self.keys)
            .field("jwt_secret", &self.jwt_secret)
            .field("webhook", &self.webhook)
            .field("scanner", &self.scanner)
            .field("payment_ttl", &self.payment_ttl)
            .field("expiry_interval", &self.expiry_interval)
            .field("watch_window", &self.watch_window)
            .field("rn_payee", &self.rn_payee)
            .field("role", &self.role)
            .field("lease_ttl", &self.lease_ttl)
            .field("quotes", &self.quotes)
            .field("custody", &self.custody)
            .field("rate_limits", &self.rate_limits)
            .field("sse_max_streams", &self.sse_max_streams)
            .finish()
    }
}

/// A setting that stopped start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    pub setting: String,
    pub reason: String,
}

impl ConfigError {
    fn new(setting: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { setting: setting.into(), reason: reason.into() }
    }
}

/// The process environment and the text of `payscan.toml` (or the file `PAYSCAN_CONFIG` names).
fn process_sources() -> Result<(HashMap<String, String>, Option<String>), ConfigError> {
    let explicit = std::env::var("PAYSCAN_CONFIG").ok();
    let path = explicit.clone().unwrap_or_else(|| "payscan.toml".to_owned());
    let file = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(ConfigError::new("PAYSCAN_CONFIG", format!("cannot read {path}: {e}"))),
    };
    Ok((std::env::vars().collect(), file))
}

struct Sources<'a> {
    env: &'a HashMap<String, String>,
    file: toml::Table,
}

impl Sources<'_> {
    /// The raw text of a setting: environment first, then the file, then the default.
    fn get(&self, env_name: &str) -> Result<Option<String>, ConfigError> {
        let (_, key, default, _) = SETTINGS
            .iter()
            .find(|(env, ..)| *env == env_name)
            .ok_or_else(|| ConfigError::new(env_name, "unknown setting"))?;
        if let Some(value) = self.env.get(env_name).cloned().filter(|v| !v.trim().is_empty()) {
            return Ok(Some(value));
        }
        if let Some(value) = self.file.get(*key) {
            return toml_text(value)
                .map(Some)
                .map_err(|reason| ConfigError::new(format!("payscan.toml {key}"), reason));
        }
        Ok((!default.is_empty()).then(|| (*default).to_owned()))
    }

    fn required(&self, env_name: &str) -> Result<String, ConfigError> {
        self.get(env_name)?
            .ok_or_else(|| ConfigError::new(env_name, "missing (set it in the environment or in payscan.toml)"))
    }

    fn parsed<T>(&self, env_name: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, ConfigError> {
        let text = self.required(env_name)?;
        parse(text.trim()).map_err(|reason| ConfigError::new(env_name, reason))
    }
}

/// A syntax error in payscan.toml, by line and reason only: the offending line is never quoted,
/// since it may hold the mnemonic or a key.
fn toml_error(error: &toml::de::Error, text: &str) -> ConfigError {
    let line = error.span().and_then(|span| text.get(..span.start)).map(|before| before.matches('\n').count() + 1);
    // The message names what was expected, never the text found.
    let reason = error.message().lines().next().unwrap_or("invalid TOML").to_owned();
    match line {
        Some(line) => ConfigError::new("payscan.toml", format!("line {line}: {reason}")),
        None => ConfigError::new("payscan.toml", reason),
    }
}

fn toml_text(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| "expected a list of strings".to_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map(|items| items.join(",")),
        _ => Err("expected a string, number, boolean or list of strings".to_owned()),
    }
}

impl Config {
    /// Reads the process environment and `payscan.toml` (or the file `PAYSCAN_CONFIG` names).
    pub fn load() -> Result<Self, ConfigError> {
        let (vars, file) = process_sources()?;
        Self::from_sources(&vars, file.as_deref())
    }

    /// One setting as [`Config::load`] reads it (environment, then the file, then its default),
    /// for operator commands that need a few settings, not a whole daemon's.
    pub fn setting(name: &str) -> Result<Option<String>, ConfigError> {
        let (vars, file) = process_sources()?;
        let file: toml::Table = match file {
            Some(text) => text.parse().map_err(|e| toml_error(&e, &text))?,
            None => toml::Table::new(),
        };
        Sources { env: &vars, file }.get(name)
    }

    /// Builds the configuration from an environment lookup and the text of `payscan.toml`.
    pub fn from_sources(env: &HashMap<String, String>, file: Option<&str>) -> Result<Self, ConfigError> {
        let file: toml::Table = match file {
            Some(text) => text.parse().map_err(|e| toml_error(&e, text))?,
            None => toml::Table::new(),
        };
        let known: Vec<&str> = SETTINGS.iter().map(|(_, key, ..)| *key).collect();
        if let Some(key) = file.keys().find(|k| *k != "rpc" && !known.contains(&k.as_str())) {
            return Err(ConfigError::new(format!("payscan.toml {key}"), "unknown setting"));
        }
        let rpc_overrides = rpc_overrides(env, &file)?;
        let sources = Sources { env, file };

        let database_url = sources.required("DATABASE_URL")?;
        if !["sqlite:", "postgres://", "postgresql://"].iter().any(|p| database_url.starts_with(p)) {
            return Err(ConfigError::new("DATABASE_URL", "expected sqlite://<file> or postgres://…"));
        }
        let keys = KeySource {
            xpub: sources.get("PAYSCAN_XPUB")?.map(|x| x.trim().to_owned()),
            mnemonic: sources.get("PAYSCAN_MNEMONIC")?.map(|m| SecretString::from(m.trim().to_owned())),
            xprv: sources.get("PAYSCAN_XPRV")?.map(|k| SecretString::from(k.trim().to_owned())),
        };
        if keys.xpub.is_none() && keys.mnemonic.is_none() && keys.xprv.is_none() {
            return Err(ConfigError::new(
                "PAYSCAN_XPUB",
                "missing: set PAYSCAN_XPUB, PAYSCAN_MNEMONIC or PAYSCAN_XPRV",
            ));
        }
        if keys.mnemonic.is_some() && keys.xprv.is_some() {
            return Err(ConfigError::new("PAYSCAN_XPRV", "set PAYSCAN_MNEMONIC or PAYSCAN_XPRV, not both"));
        }
        let jwt_secret = sources.required("PAYSCAN_JWT_SECRET")?;
        if jwt_secret.len() < 32 {
            return Err(ConfigError::new("PAYSCAN_JWT_SECRET", "must be at least 32 bytes"));
        }
        let webhook_secret =
            sources.parsed("PAYSCAN_WEBHOOK_SECRET", |s| WebhookSecret::parse(s).map_err(|e| e.to_string()))?;
        let targets = sources
            .get("PAYSCAN_WEBHOOK_TARGETS")?
            .map(|list| parse_targets(&list))
            .transpose()
            .map_err(|reason| ConfigError::new("PAYSCAN_WEBHOOK_TARGETS", reason))?
            .unwrap_or_default();
        let allow_networks = match sources.get(ALLOW_NETWORKS)? {
            Some(list) => outbound::parse_networks(&list).map_err(|reason| ConfigError::new(ALLOW_NETWORKS, reason))?,
            None => Vec::new(),
        };
        let policy = OutboundPolicy::new(allow_networks.clone(), ALLOW_NETWORKS);
        if let Some(refused) = targets.iter().find_map(|t| policy.check_url(t).err()) {
            return Err(ConfigError::new("PAYSCAN_WEBHOOK_TARGETS", refused.to_string()));
        }

        let signer = sources.parsed("PAYSCAN_SIGNER", |s| match s {
            "local" => Ok(SignerKind::Local),
            "build-only" => Ok(SignerKind::BuildOnly),
            other => Err(format!("`{other}` is not local or build-only")),
        })?;
        if signer == SignerKind::Local && keys.mnemonic.is_none() && keys.xprv.is_none() {
            return Err(ConfigError::new(
                "PAYSCAN_SIGNER",
                "local needs PAYSCAN_MNEMONIC or PAYSCAN_XPRV (the keys it signs with)",
            ));
        }
        let master_wallet = sources
            .get("PAYSCAN_MASTER_WALLET")?
            .map(|a| crate::registry::parse_address(a.trim()))
            .transpose()
            .map_err(|reason| ConfigError::new("PAYSCAN_MASTER_WALLET", reason))?;
        let secret = |name: &str| -> Result<Option<SecretString>, ConfigError> {
            Ok(sources.get(name)?.map(|k| SecretString::from(k.trim().to_owned())))
        };
        let relayer_key = secret("PAYSCAN_RELAYER_KEY")?;
        let custody = CustodyConfig {
            signer,
            sweep_interval: sources.parsed("PAYSCAN_SWEEP_INTERVAL", parse_duration)?,
            sweep_cron: sources.parsed("PAYSCAN_SWEEP_CRON", parse_bool)?,
            master_wallet,
            payout_key: secret("PAYSCAN_PAYOUT_KEY")?.or_else(|| relayer_key.clone()),
            relayer_key,
            payout_retry: sources.parsed("PAYSCAN_PAYOUT_RETRY", parse_schedule)?,
            payout_minimums: match sources.get("PAYSCAN_PAYOUT_MIN")? {
                Some(text) => parse_minimums(&text).map_err(|reason| ConfigError::new("PAYSCAN_PAYOUT_MIN", reason))?,
                None => Vec::new(),
            },
            max_fee_per_gas: sources.parsed("PAYSCAN_MAX_FEE_GWEI", |s| {
                let wei = BaseUnits::parse_token_units(s, 9).map_err(|e| format!("`{s}`: {e}"))?;
                u128::try_from(wei.0).map_err(|_| format!("`{s}` is too large"))
            })?,
            replace_after: sources.parsed("PAYSCAN_TX_REPLACE_AFTER", parse_duration)?,
            sweep_max_gas_cost: sources
                .get("PAYSCAN_SWEEP_MAX_GAS_COST")?
                .map(|s| BaseUnits::parse_token_units(&s, 18).map(|w| w.0).map_err(|e| format!("`{s}`: {e}")))
                .transpose()
                .map_err(|reason| ConfigError::new("PAYSCAN_SWEEP_MAX_GAS_COST", reason))?,
        };

        Ok(Self {
            database_url: SecretString::from(database_url),
            listen: sources.parsed("PAYSCAN_LISTEN", |s| s.parse().map_err(|_| format!("`{s}` is not host:port")))?,
            chains_path: sources.required("PAYSCAN_CHAINS")?.into(),
            tokens_path: sources.required("PAYSCAN_TOKENS")?.into(),
            rpc_overrides,
            keys,
            jwt_secret: SecretString::from(jwt_secret),
            webhook: WebhookConfig {
                secret: webhook_secret,
                targets,
                self_target: sources.parsed("PAYSCAN_SELF_WEBHOOK", parse_bool)?,
                retry: sources.parsed("PAYSCAN_WEBHOOK_RETRY", parse_schedule)?,
                timeout: sources.parsed("PAYSCAN_WEBHOOK_TIMEOUT", parse_duration)?,
                allow_networks,
                concurrency: sources.parsed("PAYSCAN_WEBHOOK_CONCURRENCY", |s| match s.parse::<usize>() {
                    Ok(n) if (1..=10_000).contains(&n) => Ok(n),
                    _ => Err("expected a count from 1 to 10000".to_owned()),
                })?,
            },
            scanner: ScannerConfig {
                poll_interval: sources.parsed("PAYSCAN_POLL_MS", |s| match s.parse::<u64>() {
                    Ok(ms) if ms >= 10 => Ok(Duration::from_millis(ms)),
                    _ => Err("expected milliseconds, at least 10".to_owned()),
                })?,
                max_block_range: sources.parsed("PAYSCAN_MAX_BLOCK_RANGE", |s| match s.parse::<u64>() {
                    Ok(n) if (1..=100_000).contains(&n) => Ok(n),
                    _ => Err("expected a block count from 1 to 100000".to_owned()),
                })?,
                rpc_timeout: sources.parsed("PAYSCAN_RPC_TIMEOUT", parse_duration)?,
                rpc_max_answer_bytes: sources.parsed("PAYSCAN_RPC_MAX_ANSWER_BYTES", |s| match s.parse::<usize>() {
                    Ok(n) if (1024..=1 << 30).contains(&n) => Ok(n),
                    _ => Err("expected a byte count from 1024 to 1073741824".to_owned()),
                })?,
                max_reorg_depth: sources.parsed("PAYSCAN_MAX_REORG_DEPTH", |s| match s.parse::<u64>() {
                    Ok(n) if (1..=10_000).contains(&n) => Ok(n),
                    _ => Err("expected a block count from 1 to 10000".to_owned()),
                })?,
            },
            payment_ttl: sources.parsed("PAYSCAN_PAYMENT_TTL", parse_duration)?,
            expiry_interval: sources.parsed("PAYSCAN_EXPIRY_INTERVAL", |s| match parse_duration(s)? {
                d if d >= Duration::from_millis(10) => Ok(d),
                _ => Err("expected a duration of at least 10ms".to_owned()),
            })?,
            watch_window: sources.parsed("PAYSCAN_WATCH_WINDOW", parse_duration)?,
            role: sources.parsed("PAYSCAN_ROLE", str::parse)?,
            lease_ttl: sources.parsed("PAYSCAN_LEASE_TTL", parse_duration)?,
            quotes: QuoteSettings {
                enabled: sources.parsed("ORACLE_QUOTING_ENABLED", parse_bool)?,
                max_age: sources.parsed("PAYSCAN_ORACLE_MAX_AGE", parse_duration)?,
                hard_cap_bps: sources.parsed("PAYSCAN_DEPEG_HARD_CAP_BPS", parse_bps)?,
                rounding_bps: sources.parsed("PAYSCAN_QUOTE_ROUNDING_BPS", parse_bps)?,
                ttl: sources.parsed("PAYSCAN_QUOTE_TTL", parse_duration)?,
            },
            rn_payee: sources
                .get("PAYSCAN_RN_PAYEE")?
                .map(|a| crate::registry::parse_address(a.trim()))
                .transpose()
                .map_err(|reason| ConfigError::new("PAYSCAN_RN_PAYEE", reason))?,
            custody,
            rate_limits: RateLimits {
                intents: sources.parsed("PAYSCAN_RATE_LIMIT_INTENTS", RateLimit::parse)?,
                permits: sources.parsed("PAYSCAN_RATE_LIMIT_PERMITS", RateLimit::parse)?,
            },
            sse_max_streams: sources.parsed("PAYSCAN_SSE_MAX_STREAMS", |s| match s.parse::<usize>() {
                Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
                _ => Err("expected a stream count from 1 to 1000000".to_owned()),
            })?,
        })
    }
}

fn rpc_overrides(env: &HashMap<String, String>, file: &toml::Table) -> Result<HashMap<ChainId, String>, ConfigError> {
    let mut overrides = HashMap::new();
    if let Some(table) = file.get("rpc") {
        let table = table
            .as_table()
            .ok_or_else(|| ConfigError::new("payscan.toml rpc", "expected a table of chainId = url"))?;
        for (key, url) in table {
            let id = key.parse().map_err(|_| ConfigError::new(format!("payscan.toml rpc.{key}"), "not a chain id"))?;
            let url =
                url.as_str().ok_or_else(|| ConfigError::new(format!("payscan.toml rpc.{key}"), "expected a URL"))?;
            overrides.insert(id, url.to_owned());
        }
    }
    let is_setting = |name: &str| SETTINGS.iter().any(|(env, ..)| *env == name);
    for (name, url) in env.iter().filter(|(name, _)| name.starts_with("PAYSCAN_RPC_") && !is_setting(name)) {
        let id = name["PAYSCAN_RPC_".len()..]
            .parse()
            .map_err(|_| ConfigError::new(name.clone(), "expected PAYSCAN_RPC_<chainId>"))?;
        overrides.insert(id, url.clone());
    }
    Ok(overrides)
}

fn parse_targets(list: &str) -> Result<Vec<String>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            if t.starts_with("http://") || t.starts_with("https://") {
                Ok(t.to_owned())
            } else {
                Err(format!("`{t}` is not an http(s) URL"))
            }
        })
        .collect()
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("`{s}` is not true or false")),
    }
}

/// `500ms`, `30s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("`{s}` is not a duration such as 30s"))?;
    let ms = match unit {
        "ms" => Some(n),
        "s" => n.checked_mul(1_000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err(format!("`{s}` is not a duration such as 30s (units ms, s, m, h)")),
    };
    ms.map(Duration::from_millis).ok_or_else(|| format!("`{s}` is too long"))
}

/// Basis points: 0 to 10000.
fn parse_bps(s: &str) -> Result<u32, String> {
    s.parse::<u32>().ok().filter(|n| *n <= 10_000).ok_or_else(|| format!("`{s}` is not 0-10000 basis points"))
}

/// `USDC=5,USDT=2.5`: a minimum in token units per token symbol.
fn parse_minimums(s: &str) -> Result<Vec<(String, String)>, String> {
    s.split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| {
            let (symbol, amount) = part.split_once('=').ok_or_else(|| format!("`{part}` is not SYMBOL=amount"))?;
            let (symbol, amount) = (symbol.trim(), amount.trim());
            // 36 decimals: any token's precision is checked when a payout names it.
            BaseUnits::parse_token_units(amount, 36).map_err(|e| format!("`{part}`: {e}"))?;
            if symbol.is_empty() {
                return Err(format!("`{part}` names no token"));
            }
            Ok((symbol.to_ascii_uppercase(), amount.to_owned()))
        })
        .collect()
}

/// `30s,60s,120s`: the delays before each retry.
pub fn parse_schedule(s: &str) -> Result<Vec<Duration>, String> {
    let schedule = s.split(',').map(parse_duration).collect::<Result<Vec<_>, _>>()?;
    if schedule.is_empty() || schedule.len() > 20 {
        return Err("expected 1 to 20 comma-separated durations".to_owned());
    }
    Ok(schedule)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn minimal() -> Vec<(&'static str, &'static str)> {
        vec![
            ("PAYSCAN_XPUB", "xpub-placeholder"),
            ("PAYSCAN_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("PAYSCAN_WEBHOOK_SECRET", SECRET),
        ]
    }

    #[test]
    fn defaults_fill_what_is_unset() {
        let config = Config::from_sources(&env_of(&minimal()), None).expect("valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.webhook.retry,
            vec![Duration::from_secs(30), Duration::from_secs(60), Duration::from_secs(120)]
        );
        assert!(config.webhook.self_target);
        assert_eq!(config.scanner.poll_interval, Duration::from_millis(2000));
    }

    #[test]
    fn environment_beats_the_file() {
        let mut env = minimal();
        env.push(("PAYSCAN_LISTEN", "127.0.0.1:9999"));
        let file =
            "listen = \"0.0.0.0:1\"\nwebhook_targets = [\"http://a.test/h\", \"https://b.test/h\"]\npoll_ms = 50\n";
        let config = Config::from_sources(&env_of(&env), Some(file)).expect("valid");
        assert_eq!(config.listen.to_string(), "127.0.0.1:9999");
        assert_eq!(config.webhook.targets, vec!["http://a.test/h", "https://b.test/h"]);
        assert_eq!(config.scanner.poll_interval, Duration::from_millis(50));
    }

    #[test]
    fn a_bad_setting_is_named() {
        let err = |extra: (&'static str, &'static str)| {
            let mut env = minimal();
            env.retain(|(k, _)| *k != extra.0);
            env.push(extra);
            Config::from_sources(&env_of(&env), None).err().map(|e| e.setting)
        };
        assert_eq!(err(("PAYSCAN_LISTEN", "nope")).as_deref(), Some("PAYSCAN_LISTEN"));
        assert_eq!(err(("PAYSCAN_WEBHOOK_SECRET", "plain")).as_deref(), Some("PAYSCAN_WEBHOOK_SECRET"));
        assert_eq!(err(("PAYSCAN_JWT_SECRET", "short")).as_deref(), Some("PAYSCAN_JWT_SECRET"));
        assert_eq!(err(("PAYSCAN_WEBHOOK_RETRY", "30s,soon")).as_deref(), Some("PAYSCAN_WEBHOOK_RETRY"));
        assert_eq!(err(("DATABASE_URL", "mysql://x")).as_deref(), Some("DATABASE_URL"));
        let missing = Config::from_sources(&env_of(&minimal()[1..]), None).err().map(|e| e.setting);
        assert_eq!(missing.as_deref(), Some("PAYSCAN_XPUB"));
        let unknown = Config::from_sources(&env_of(&minimal()), Some("lisen = \"x\"")).err().map(|e| e.setting);
        assert_eq!(unknown.as_deref(), Some("payscan.toml lisen"));
    }

    #[test]
    fn a_webhook_secret_under_24_bytes_stops_start_up_without_being_printed() {
        use base64::Engine;
        let with_secret = |bytes: &[u8]| {
            let secret = format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(bytes));
            let mut env = minimal();
            env.retain(|(k, _)| *k != "PAYSCAN_WEBHOOK_SECRET");
            let mut env = env_of(&env);
            env.insert("PAYSCAN_WEBHOOK_SECRET".to_owned(), secret.clone());
            (Config::from_sources(&env, None), secret)
        };
        let (refused, secret) = with_secret(b"twenty-three bytes long");
        let refused = refused.expect_err("a 23-byte secret is refused");
        assert_eq!(refused.setting, "PAYSCAN_WEBHOOK_SECRET");
        let line = refused.to_string();
        assert!(line.contains("23 bytes") && line.contains("at least 24"), "{line}");
        let body = secret.trim_start_matches("whsec_");
        assert!(!line.contains(body) && !line.contains("twenty-three"), "the secret was printed: {line}");
        assert!(with_secret(b"twenty-four bytes long!!").0.is_ok());
    }

    #[test]
    fn internal_webhook_targets_need_the_allow_list() {
        let with = |targets: &'static str, allow: Option<&'static str>| {
            let mut env = minimal();
            env.push(("PAYSCAN_WEBHOOK_TARGETS", targets));
            env.extend(allow.map(|a| ("PAYSCAN_WEBHOOK_ALLOW_NETWORKS", a)));
            Config::from_sources(&env_of(&env), None)
        };
        for target in
            ["http://127.0.0.1:9000/hook", "http://169.254.169.254/", "http://localhost/h", "http://10.1.1.1/"]
        {
            let refused = with(target, None).expect_err("refused");
            assert_eq!(refused.setting, "PAYSCAN_WEBHOOK_TARGETS", "{target}");
            assert!(refused.to_string().contains("PAYSCAN_WEBHOOK_ALLOW_NETWORKS"), "{refused}");
        }
        assert!(with("http://127.0.0.1:9000/hook,https://hooks.example.com/", Some("127.0.0.0/8")).is_ok());
        assert!(with("http://169.254.169.254/", Some("127.0.0.0/8")).is_err());
        let bad = with("https://hooks.example.com/", Some("127.0.0.0/40")).err().map(|e| e.setting);
        assert_eq!(bad.as_deref(), Some("PAYSCAN_WEBHOOK_ALLOW_NETWORKS"));
    }

    #[test]
    fn a_broken_file_is_refused_without_quoting_it() {
        let words = "legal winner thank year wave sausage worth useful legal winner thank yellow";
        let broken = [
            format!("mnemonic = \"{words}\nlisten = \"127.0.0.1:1\"\n"),
            format!("mnemonic = {words}\n"),
            format!("listen = \"127.0.0.1:1\"\nmnemonic = \"{words}\" oops\n"),
        ];
        for file in broken {
            let err = Config::from_sources(&env_of(&minimal()), Some(&file)).err().map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(err.starts_with("payscan.toml"), "{err}");
            assert!(err.contains("line "), "{err}");
            for word in ["legal", "winner", "sausage", "yellow"] {
                assert!(!err.contains(word), "the error quotes the file: {err}");
            }
        }
    }

    #[test]
    fn rpc_overrides_are_told_from_rpc_settings() {
        let mut env = minimal();
        env.push(("PAYSCAN_RPC_56", "http://a.test,http://b.test"));
        env.push(("PAYSCAN_RPC_TIMEOUT", "3s"));
        let config = Config::from_sources(&env_of(&env), None).expect("valid");
        assert_eq!(config.rpc_overrides.get(&ChainId(56)).map(String::as_str), Some("http://a.test,http://b.test"));
        assert_eq!(config.scanner.rpc_timeout, Duration::from_secs(3));
        env.push(("PAYSCAN_RPC_BSC", "http://c.test"));
        let err = Config::from_sources(&env_of(&env), None).err().map(|e| e.setting);
        assert_eq!(err.as_deref(), Some("PAYSCAN_RPC_BSC"));
    }

    #[test]
    fn custody_settings_are_checked_and_never_printed() {
        let config = Config::from_sources(&env_of(&minimal()), None).expect("valid");
        assert_eq!(config.custody.signer, SignerKind::BuildOnly);
        let mut env = minimal();
        env.push(("PAYSCAN_SIGNER", "local"));
        let err = Config::from_sources(&env_of(&env), None).err().map(|e| e.setting);
        assert_eq!(err.as_deref(), Some("PAYSCAN_SIGNER"), "local without a mnemonic");
        let mut env = minimal();
        env.push(("PAYSCAN_MASTER_WALLET", "0x1234"));
        let err = Config::from_sources(&env_of(&env), None).err().map(|e| e.setting);
        assert_eq!(err.as_deref(), Some("PAYSCAN_MASTER_WALLET"));
        let mut env = minimal();
        env.push(("PAYSCAN_RELAYER_KEY", "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"));
        let config = Config::from_sources(&env_of(&env), None).expect("valid");
        assert!(config.custody.payout_key.is_some(), "the payout key defaults to the relayer key");
        assert!(!format!("{config:?}").contains("59c6995e"), "a key in Debug output");
    }

    /// Every secret a configuration can hold, and where it goes.
    const MNEMONIC: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";
    const XPRV: &str = "xprv9xpXFhFpqdQK3TmytPBqXtGSwS3DLjojFhTGht8gwAAii8py5X6pxeBnQ6ehJiyJ6nDjWGJfZ95WxByFXVkDxHXrqu53WCRGypk2ttuqncb";
    const RELAYER: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
    const PAYOUT: &str = "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a";
    const JWT: &str = "jwt-secret-JWTSECRETJWTSECRETJWTSECRET";

    fn loaded_with_every_secret(key: (&'static str, &'static str)) -> Config {
        let env = env_of(&[
            key,
            ("PAYSCAN_JWT_SECRET", JWT),
            ("PAYSCAN_WEBHOOK_SECRET", SECRET),
            ("DATABASE_URL", "postgres://payscan:DBPASSWORD@db.internal:5432/payscan"),
            ("PAYSCAN_RPC_1", "https://eth.example/v2/RPCPATHKEY,https://user:RPCUSERINFO@eth2.example/?key=RPCQUERY"),
            ("PAYSCAN_WEBHOOK_TARGETS", "https://hooks.example.com/in/HOOKPATHTOKEN?token=HOOKQUERYTOKEN"),
            ("PAYSCAN_SIGNER", "local"),
            ("PAYSCAN_RELAYER_KEY", RELAYER),
            ("PAYSCAN_PAYOUT_KEY", PAYOUT),
        ]);
        Config::from_sources(&env, None).expect("valid")
    }

    /// Substrings of each secret that no Debug output may contain.
    fn secret_parts() -> Vec<&'static str> {
        let webhook_key = SECRET.trim_start_matches("whsec_");
        vec![
            "legal winner",
            "sausage",
            XPRV,
            &XPRV[4..30],
            RELAYER,
            &RELAYER[..16],
            PAYOUT,
            &PAYOUT[..16],
            "whsec_",
            webhook_key,
            "JWTSECRET",
            "DBPASSWORD",
            "RPCPATHKEY",
            "RPCUSERINFO",
            "RPCQUERY",
            "HOOKPATHTOKEN",
            "HOOKQUERYTOKEN",
        ]
    }

    fn assert_no_secret(what: &str, printed: &str) {
        for part in secret_parts() {
            assert!(!printed.contains(part), "{what} prints `{part}`:\n{printed}");
        }
    }

    #[test]
    fn debug_of_a_config_prints_no_secret() {
        for key in [("PAYSCAN_MNEMONIC", MNEMONIC), ("PAYSCAN_XPRV", XPRV)] {
            let config = loaded_with_every_secret(key);
            for printed in [format!("{config:?}"), format!("{config:#?}")] {
                assert_no_secret("Config", &printed);
                assert!(printed.contains("[REDACTED]"), "{printed}");
                // What an operator needs to read stays: the endpoints' labels.
                assert!(printed.contains("https://eth.example/…"), "{printed}");
                assert!(printed.contains("https://eth2.example/…"), "{printed}");
                assert!(printed.contains("https://hooks.example.com/…"), "{printed}");
            }
            for printed in [
                format!("{:?} {:#?}", config.keys, config.keys),
                format!("{:?} {:#?}", config.webhook, config.webhook),
                format!("{:?} {:#?}", config.custody, config.custody),
                format!("{:?} {:#?}", config.webhook.secret, config.database_url),
            ] {
                assert_no_secret("a part of Config", &printed);
            }
        }
    }

    #[test]
    fn rate_limits_parse() {
        let minute = Duration::from_secs(60);
        assert_eq!(RateLimit::parse("30/m"), Ok(Some(RateLimit { count: 30, period: minute })));
        assert_eq!(RateLimit::parse("5/10s"), Ok(Some(RateLimit { count: 5, period: Duration::from_secs(10) })));
        assert_eq!(RateLimit::parse("off"), Ok(None));
        for bad in ["0/m", "30", "30/", "30/0s", "x/m", "30/week"] {
            assert!(RateLimit::parse(bad).is_err(), "{bad}");
        }
        let config = Config::from_sources(&env_of(&minimal()), None).expect("valid");
        assert_eq!(config.rate_limits.intents, Some(RateLimit { count: 30, period: minute }));
        assert_eq!(config.rate_limits.permits, Some(RateLimit { count: 5, period: minute }));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2 weeks").is_err());
        assert!(parse_schedule("").is_err());
    }
}

#[cfg(test)]
mod readme {
    /// The README's settings table must name every setting.
    #[test]
    fn documents_every_setting() {
        let readme = include_str!("../../README.md");
        for (env, key, ..) in super::SETTINGS {
            assert!(readme.contains(&format!("`{env}`")), "README lacks {env}");
            assert!(readme.contains(&format!("`{key}`")), "README lacks {key}");
        }
    }
}
