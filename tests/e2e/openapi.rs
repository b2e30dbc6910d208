//! The OpenAPI document: served, complete, and true to the live server. schemathesis walks every
//! operation of the document against a running payscan that holds a completed payment and a
//! paid payout, once with an admin's token and once with a buyer's, with every check it has: no
//! 5xx, no undocumented status, header or content type, no answer that breaks its schema, no
//! request the document calls invalid accepted, none it calls valid refused (but for the few
//! refusals no schema can state, allowed where they apply), 405 with `Allow` for other methods,
//! 401 without the token.

use std::collections::BTreeSet;
use std::process::Command;

use alloy::primitives::{Address, U256};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

/// Where `scripts/install-tools.sh` puts schemathesis (override with `PAYSCAN_SCHEMATHESIS`).
fn schemathesis() -> String {
    std::env::var("PAYSCAN_SCHEMATHESIS")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/venv/bin/schemathesis").to_owned())
}

/// The committed openapi.json (what `payscan openapi` prints; a unit test of the api crate fails
/// when it is stale) is valid OpenAPI 3.1 by openapi-spec-validator: unique operation ids, every
/// reference resolved, the `webhooks` section well formed.
#[test]
fn the_committed_document_is_valid_openapi() {
    let validator = concat!(env!("CARGO_MANIFEST_DIR"), "/.tools/venv/bin/openapi-spec-validator");
    let output = Command::new(validator)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .output()
        .unwrap_or_else(|e| panic!("run {validator} (scripts/install-tools.sh installs it): {e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success() && stdout.contains("OK"),
        "openapi-spec-validator refused openapi.json:\n{stdout}\n{stderr}"
    );
}

both_backends!(the_document_covers_every_route_and_the_live_server_keeps_to_it, |backend| async move {
    let chain = TestChain::start(31337).await;
    let mut options = AppOptions::new(backend, &chain);
    local_signer(&mut options);
    let app = TestApp::spawn(options).await;
    let admin = app.admin();

    // Real data for the walk to read: a pending payment, a completed one and a paid payout.
    app.intent("admin-1", intent_body("offer-open", "3", "USDT", &chain)).await;
    let payment = completed(&app, &chain, "offer-doc", "5", "USDC").await;
    let payment_id = payment["paymentId"].as_str().expect("id").to_owned();
    chain.fund(chain.usdc, PAYOUT_WALLET.parse().expect("address"), U256::from(10_000_000u64)).await;
    let body = json!({
        "userId": "seller-doc", "amount": "2", "token": "USDC", "chainId": chain.chain_id,
        "destination": { "type": "address", "account": Address::with_last_byte(0xd0).to_checksum(None) },
        "reference": "doc-1",
    });
    let (status, created) = app.post("/payouts", Some(&admin), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let payout_id = created["data"]["payoutId"].as_str().expect("id").to_owned();
    let (status, _) = app.post("/admin/payouts/run", Some(&admin), &json!({})).await;
    assert_eq!(status, StatusCode::OK);
    app.wait_for_payout(&payout_id, "COMPLETED").await;

    // Served without a token, as OpenAPI 3.1, and the same operations the health route lists.
    let document: Value =
        app.http.get(format!("{}/api/openapi.json", app.url)).send().await.expect("get").json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            documented.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let (status, health) = app.get("/api/payment/health", None).await;
    assert_eq!(status, StatusCode::OK);
    let listed: BTreeSet<String> = health["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| e.as_str().expect("text").to_owned())
        .collect();
    assert_eq!(listed, documented);
    for route in ["POST /payouts", "GET /api/payment/{id}/events", "POST /api/payment/request-network/{id}/permit"] {
        assert!(documented.contains(route), "{route} is not documented");
    }
    let page = app.http.get(format!("{}/api/docs", app.url)).send().await.expect("get");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let page = page.text().await.expect("text");
    assert!(page.contains("Queue a payout") && !page.contains("<script"));

    // The buyer of the completed payment walks the same document: the admin routes answer 403,
    // its own payment answers in full.
    let buyer = app.token("buyer-1", "buyer");
    for (who, token) in [("admin", &admin), ("buyer", &buyer)] {
        let stdout = walk(&app, token, &payment_id, &payout_id);
        // Every operation but the event stream was walked.
        let tested =
            stdout.lines().find_map(|l| l.trim().strip_prefix("Tested: ")).and_then(|n| n.trim().parse::<usize>().ok());
        assert_eq!(tested, Some(documented.len() - 1), "schemathesis walked too few operations as {who}:\n{stdout}");
    }
    app.stop().await;
});

/// Runs every schemathesis check over the live document with `token`; the routes that name a
/// payment or payout are also walked with the real ones, so their full answers are checked
/// against the schemas. Answers schemathesis's report.
fn walk(app: &TestApp, token: &str, payment_id: &str, payout_id: &str) -> String {
    let dir = TempDir::new();
    let config = dir.0.join("schemathesis.toml");
    let mut text = String::new();
    for (path, method, id) in [
        ("/api/payment/{id}", "GET", payment_id),
        ("/api/payment/payments/{id}/debug", "GET", payment_id),
        ("/api/payment/request-network/{id}/checkout", "GET", payment_id),
        ("/api/payment/derived-destinations/{id}/balance", "POST", payment_id),
        ("/payouts/{id}", "GET", payout_id),
    ] {
        text.push_str(&format!(
            "[[operations]]\ninclude-name = \"{method} {path}\"\nparameters = {{ \"path.id\" = \"{id}\" }}\n\n"
        ));
    }
    text.push_str(UNSTATED_REFUSALS);
    std::fs::write(&config, text).expect("config");
    let output = Command::new(schemathesis())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/api/openapi.json", app.url)])
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--workers", "1", "--max-examples", "10", "--seed", "7", "--request-timeout", "20"])
        // The stateful phase chains operations by their inferred links, where the checks of a
        // resource's lifetime (use after free, availability after creation) apply.
        .args(["--phases", "examples,coverage,fuzzing,stateful", "--no-color", "--warnings", "off"])
        // A live stream never ends by itself; it is tested with a real SSE client elsewhere.
        .args(["--exclude-path", "/api/payment/{id}/events"])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(&dir.0)
        .output()
        .unwrap_or_else(|e| panic!("run {} (scripts/install-tools.sh installs it): {e}", schemathesis()));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis found problems:\n{stdout}\n{stderr}");
    stdout
}

/// The refusals of schema-valid requests that no JSON Schema can state, allowed on the one
/// operation each concerns: a mixed-case address with a bad EIP-55 checksum, a token or chain the
/// registry does not hold, an amount finer than the token's decimals, a permit whose signature
/// does not recover its owner, rules across fields or across the payment's state.
const UNSTATED_REFUSALS: &str = r#"
# schemathesis leaves out the operation that served the document unless it is named.
[[operations]]
include-name = "GET /api/openapi.json"
enabled = true

# Mixed-case addresses must carry a valid EIP-55 checksum.
[[operations]]
include-name = "GET /api/payment/derived-destinations"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-name = "GET /api/payment/request-network/{id}/checkout"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

# `to` must carry a valid checksum; a release without `to` needs the seller's payout address (422).
[[operations]]
include-name-regex = "^POST /api/payment/\\{id\\}/(release|refund)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

# The token, chain and amount precision are the registry's; the ids must be new or the same offer's.
[[operations]]
include-name-regex = "^POST /(api/payment|api/payment/request-network/(intents|pay-in)|payouts)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]

# The permit's signature must recover its owner, for this payment's amount, spender and nonce.
[[operations]]
include-name = "POST /api/payment/request-network/{id}/permit"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "422", "429", "5xx"]

# Chains and tokens must be the registry's; `useShopDefault` is a template's, `sellerId` too.
[[operations]]
include-name = "PUT /api/admin/payment-config/{kind}/{id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
"#;
