//! The OpenAPI document: served, complete, and true to the live server. schemathesis walks every
//! operation of the document against a running payscan that holds a completed payment and a
//! paid payout, and must find no 5xx, no undocumented status, no wrong content type and no
//! answer that breaks its schema.

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

    // schemathesis reads the live document; the routes that name a payment or payout are also
    // walked with the real ones, so their full answers are checked against the schemas.
    let dir = TempDir::new();
    let config = dir.0.join("schemathesis.toml");
    let mut text = String::new();
    for (path, method, id) in [
        ("/api/payment/{id}", "GET", &payment_id),
        ("/api/payment/payments/{id}/debug", "GET", &payment_id),
        ("/api/payment/request-network/{id}/checkout", "GET", &payment_id),
        ("/api/payment/derived-destinations/{id}/balance", "POST", &payment_id),
        ("/payouts/{id}", "GET", &payout_id),
    ] {
        text.push_str(&format!(
            "[[operations]]\ninclude-path = \"{path}\"\ninclude-method = \"{method}\"\nparameters = {{ \"path.id\" = \"{id}\" }}\n\n"
        ));
    }
    std::fs::write(&config, text).expect("config");
    let output = Command::new(schemathesis())
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{}/api/openapi.json", app.url)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--header", &format!("Authorization: Bearer {admin}")])
        .args(["--workers", "1", "--max-examples", "10", "--seed", "7", "--request-timeout", "20"])
        .args(["--phases", "examples,coverage,fuzzing", "--no-color", "--warnings", "off"])
        // A live stream never ends by itself; it is tested with a real SSE client elsewhere.
        .args(["--exclude-path", "/api/payment/{id}/events"])
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(&dir.0)
        .output()
        .unwrap_or_else(|e| panic!("run {} (scripts/install-tools.sh installs it): {e}", schemathesis()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis found problems:\n{stdout}\n{stderr}");
    // Every operation but the event stream was walked.
    let tested =
        stdout.lines().find_map(|l| l.trim().strip_prefix("Tested: ")).and_then(|n| n.trim().parse::<usize>().ok());
    assert_eq!(tested, Some(documented.len() - 1), "schemathesis walked too few operations:\n{stdout}");
    app.stop().await;
});
