//! The table of every setting: the README's settings table is this table.

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
        "PAYSCAN_DEFAULT_NETWORK",
        "default_network",
        "bsc",
        "chain (short name or id) of an intent that names no network, as the seed's backend defaults",
    ),
    ("PAYSCAN_DEFAULT_TOKEN", "default_token", "USDT", "token (symbol or address) of an intent that names none"),
    (
        "PAYSCAN_PUBLIC_URL",
        "public_url",
        "",
        "where backends and browsers reach payscan (`https://pay.example.com`); without it the links payscan hands out are paths",
    ),
    (
        "PAYSCAN_REDIRECT_SUCCESS",
        "redirect_success",
        "",
        "where a checkout sends the buyer once paid (`redirect.success` of POST /api/payment/configuration)",
    ),
    (
        "PAYSCAN_REDIRECT_CANCEL",
        "redirect_cancel",
        "",
        "where a checkout sends a buyer who gives up (`redirect.cancel`)",
    ),
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

#[cfg(test)]
mod readme {
    /// The README's settings table must name every setting.
    #[test]
    fn documents_every_setting() {
        let readme = include_str!("../../../README.md");
        for (env, key, ..) in super::SETTINGS {
            assert!(readme.contains(&format!("`{env}`")), "README lacks {env}");
            assert!(readme.contains(&format!("`{key}`")), "README lacks {key}");
        }
    }
}
