//! Operator commands, run as the real binary: `migrate`, `derive`, `registry check`,
//! `outbox list|retry`.

use std::collections::HashMap;
use std::process::Output;

use alloy::primitives::U256;

use crate::both_backends;
use crate::support::*;

/// Runs `payscan <args>` with only `env` (no inherited settings, no payscan.toml).
fn payscan(args: &[&str], env: &HashMap<String, String>) -> Output {
    let dir = TempDir::new();
    std::process::Command::new(env!("CARGO_BIN_EXE_payscan"))
        .args(args)
        .current_dir(&dir.0)
        .env_clear()
        .envs(env)
        .env("RUST_LOG", "error")
        .output()
        .expect("run payscan")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn only(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn derive_prints_the_address_of_an_index_and_refuses_without_keys() {
    let out = payscan(&["derive", "0"], &only(&[("PAYSCAN_MNEMONIC", MNEMONIC)]));
    assert!(out.status.success(), "{}", stderr(&out));
    // The well-known first address of the "abandon … about" test mnemonic.
    assert_eq!(stdout(&out).trim(), "m/44'/60'/0'/0/0 0x9858EfFD232B4033E47d90003D41EC34EcaEda94");
    assert!(!stdout(&out).contains("abandon") && !stderr(&out).contains("abandon"), "no secret printed");

    let out = payscan(&["derive", "1"], &HashMap::new());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("PAYSCAN_XPUB"), "{}", stderr(&out));
    let out = payscan(&["derive", "2147483648"], &only(&[("PAYSCAN_MNEMONIC", MNEMONIC)]));
    assert_eq!(out.status.code(), Some(2), "a hardened index is refused");
}

both_backends!(migrate_registry_check_and_the_outbox_commands_work_on_a_real_database, |backend| async move {
    let chain = TestChain::start(31337).await;
    let dead_target = ReservedPort::new();
    let mut options = AppOptions::new(backend, &chain);
    options.targets = vec![dead_target.url()];
    options.self_webhook = false;
    options.retry = "100ms";
    let app = TestApp::spawn(options).await;
    let env = app.env.env.clone();

    let out = payscan(&["migrate"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("latest schema"));

    let out = payscan(&["registry", "check"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("31337 TEST31337"), "{}", stdout(&out));
    assert!(stdout(&out).contains("registry is valid: 1 chains"));
    let mut broken = env.clone();
    let bad = TempDir::new();
    let bad_chains = bad.0.join("chains.json");
    std::fs::write(&bad_chains, "[{\"chainId\": 1}]").expect("write");
    broken.insert("PAYSCAN_CHAINS".into(), bad_chains.display().to_string());
    let out = payscan(&["registry", "check"], &broken);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).starts_with("payscan: "), "{}", stderr(&out));

    // A delivery to a target that never answers ends in manual review; the commands see it.
    let intent = app.intent("buyer-1", intent_body("offer-cli", "1", "USDC", &chain)).await;
    chain.pay(chain.usdc, address(&intent["destination"]), U256::from(1_000_000u64)).await;
    app.wait_for(intent["paymentId"].as_str().expect("id"), "manual review", |p| {
        p["webhooks"].as_array().is_some_and(|w| w.iter().any(|d| d["status"] == "manual_review"))
    })
    .await;
    let out = payscan(&["outbox", "list"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    assert!(
        listed.contains("payment.processing") && listed.contains(intent["paymentId"].as_str().expect("id")),
        "{listed}"
    );
    let out = payscan(&["outbox", "list", "--status", "sent"], &env);
    assert_eq!(out.status.code(), Some(2));
    let out = payscan(&["outbox", "retry"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("1 deliveries requeued"), "{}", stdout(&out));
    app.stop().await;
});
