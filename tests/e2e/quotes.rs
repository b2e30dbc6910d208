//! Oracle quotes: with ORACLE_QUOTING_ENABLED an intent's amount is in USD and the payment's is
//! the token amount at the price feed's rate (a feed contract the test deploys on anvil); a stale
//! or missing feed is a 503 and a depegged token a 422.

use alloy::primitives::{I256, U256};
use alloy::providers::Provider;
use payscan::devchain;
use reqwest::StatusCode;
use serde_json::Value;

use crate::both_backends;
use crate::support::*;

alloy::sol! {
    interface IPriceFeed {
        function set(int256 answer, uint256 updatedAt) external;
    }
}

async fn set_price(chain: &TestChain, answer: i64, age_secs: u64) {
    let provider = chain.anvil.provider();
    let now = provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .expect("block")
        .expect("head")
        .header
        .timestamp;
    let call =
        IPriceFeed::setCall { answer: I256::try_from(answer).expect("answer"), updatedAt: U256::from(now - age_secs) };
    devchain::call(provider, chain.deployer, chain.usdc_feed.expect("feed"), call).await.expect("set the price");
}

async fn intent(app: &TestApp, chain: &TestChain, offer: &str, usd: &str, token: &str) -> (StatusCode, Value) {
    app.post(
        "/api/payment/request-network/intents",
        Some(&app.token("buyer-1", "buyer")),
        &intent_body(offer, usd, token, chain),
    )
    .await
}

both_backends!(quotes_are_fresh_or_refused_when_stale_missing_or_depegged, |backend| async move {
    let chain = TestChain::start(31337).await.with_usdc_feed(100_000_000).await;
    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("ORACLE_QUOTING_ENABLED", "true".to_owned()));
    let app = TestApp::spawn(options).await;

    // At the peg: 10 USD is 10 USDC.
    let (status, at_peg) = intent(&app, &chain, "offer-q1", "10", "USDC").await;
    assert_eq!(status, StatusCode::OK, "{at_peg}");
    assert_eq!(at_peg["quote"]["settleAmountBaseUnits"], "10000000");
    assert_eq!(at_peg["quote"]["tokenPriceUSD"], "1");
    assert_eq!(at_peg["quote"]["depegAdjustmentBps"], 0);
    assert_eq!(at_peg["quote"]["roundingBps"], 0);
    assert!(at_peg["quote"]["expiresAt"].is_string());
    assert_eq!(at_peg["data"]["amountBaseUnits"], "10000000", "the payment asks for the quoted amount");

    // Slightly below the peg: more USDC, rounded up to the token's precision.
    set_price(&chain, 99_000_000, 0).await;
    let (status, below) = intent(&app, &chain, "offer-q2", "10", "USDC").await;
    assert_eq!(status, StatusCode::OK, "{below}");
    assert_eq!(below["quote"]["settleAmountBaseUnits"], "10101011");
    assert_eq!(below["quote"]["settleAmount"], "10.101011");
    assert_eq!(below["quote"]["tokenPriceUSD"], "0.99");
    assert_eq!(below["quote"]["depegAdjustmentBps"], 100);
    assert_eq!(below["data"]["amountBaseUnits"], "10101011");

    // Stale: the last answer is two hours old.
    set_price(&chain, 100_000_000, 7200).await;
    let (status, stale) = intent(&app, &chain, "offer-q3", "10", "USDC").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{stale}");
    assert_eq!(stale["error"]["code"], "ORACLE_UNAVAILABLE");

    // Depegged past the 2% hard cap.
    set_price(&chain, 90_000_000, 0).await;
    let (status, depegged) = intent(&app, &chain, "offer-q4", "10", "USDC").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{depegged}");
    assert_eq!(depegged["error"]["code"], "DEPEG_LIMIT_EXCEEDED");

    // USDT has no feed at all.
    let (status, missing) = intent(&app, &chain, "offer-q5", "10", "USDT").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{missing}");
    assert_eq!(missing["error"]["code"], "ORACLE_UNAVAILABLE");
    app.stop().await;
});
