//! Every setting from the environment, the file and its default, and every refusal.

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
    assert_eq!(config.webhook.retry, vec![Duration::from_secs(30), Duration::from_secs(60), Duration::from_secs(120)]);
    assert!(config.webhook.self_target);
    assert_eq!(config.scanner.poll_interval, Duration::from_millis(2000));
}

#[test]
fn environment_beats_the_file() {
    let mut env = minimal();
    env.push(("PAYSCAN_LISTEN", "127.0.0.1:9999"));
    let file = "listen = \"0.0.0.0:1\"\nwebhook_targets = [\"http://a.test/h\", \"https://b.test/h\"]\npoll_ms = 50\n";
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
    for target in ["http://127.0.0.1:9000/hook", "http://169.254.169.254/", "http://localhost/h", "http://10.1.1.1/"] {
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
const XPRV: &str =
    "xprv9xpXFhFpqdQK3TmytPBqXtGSwS3DLjojFhTGht8gwAAii8py5X6pxeBnQ6ehJiyJ6nDjWGJfZ95WxByFXVkDxHXrqu53WCRGypk2ttuqncb";
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

#[test]
fn links_and_intent_defaults_come_from_settings() {
    let config = Config::from_sources(&env_of(&minimal()), None).expect("valid");
    assert_eq!(config.intent_defaults, IntentDefaults { network: "bsc".into(), token: "USDT".into() });
    assert_eq!(config.links, Links::default());
    assert_eq!(config.links.to("/a"), "/a");

    let mut env = minimal();
    env.push(("PAYSCAN_PUBLIC_URL", "https://pay.example.com/"));
    env.push(("PAYSCAN_REDIRECT_CANCEL", "http://shop.test/back"));
    let config = Config::from_sources(&env_of(&env), None).expect("valid");
    assert_eq!(config.links.to("/a"), "https://pay.example.com/a");
    assert_eq!(config.links.redirect_cancel.as_deref(), Some("http://shop.test/back"));

    for bad in ["ftp://pay.example.com", "https://a.test,https://b.test"] {
        let mut env = minimal();
        env.push(("PAYSCAN_PUBLIC_URL", bad));
        let refused = Config::from_sources(&env_of(&env), None).expect_err(bad);
        assert_eq!(refused.setting, "PAYSCAN_PUBLIC_URL", "{refused}");
    }
}
