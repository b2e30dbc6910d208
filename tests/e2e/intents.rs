//! Destination allocation: concurrent intents never share an index, and the addresses equal an
//! independent derivation (anvil's own accounts for the same mnemonic).

use std::collections::HashSet;

use payscan::devchain::AnvilOptions;
use tokio::task::JoinSet;

use crate::both_backends;
use crate::support::*;

both_backends!(concurrent_intents_never_share_an_index, |backend| async move {
    let chain = TestChain::start(31337).await;
    let app = std::sync::Arc::new(TestApp::spawn(AppOptions::new(backend, &chain)).await);
    const N: usize = 200;
    let mut requests = JoinSet::new();
    for i in 0..N {
        let app = app.clone();
        let body = intent_body(&format!("offer-{i}"), "1", "USDC", &chain);
        // Half the buyers share one id: allocation must not depend on who asks.
        let buyer = format!("buyer-{}", i % 2);
        requests.spawn(async move { app.intent(&buyer, body).await });
    }
    let mut indices = HashSet::new();
    let mut addresses = HashSet::new();
    while let Some(joined) = requests.join_next().await {
        let data = joined.expect("request task");
        assert!(indices.insert(data["derivationIndex"].as_u64().expect("index")), "index reused: {data}");
        assert!(addresses.insert(data["destination"].as_str().expect("address").to_owned()));
    }
    assert_eq!(indices, (0..N as u64).collect::<HashSet<_>>());
    if let Ok(app) = std::sync::Arc::try_unwrap(app) {
        app.stop().await;
    }
});

both_backends!(destinations_equal_an_independent_derivation, |backend| async move {
    // anvil derives its accounts from the mnemonic at m/44'/60'/0'/0/i, independently of payscan.
    let chain = TestChain::start_with(AnvilOptions {
        chain_id: 31337,
        mnemonic: Some(MNEMONIC.to_owned()),
        accounts: 5,
        ..Default::default()
    })
    .await;
    let expected = chain.anvil.accounts().await.expect("accounts");
    // Configured with the account xpub alone, as production runs: no private key in payscan.
    let xpub = payscan_custody::Deriver::from_mnemonic(MNEMONIC).expect("mnemonic").xpub();
    let mut options = AppOptions::new(backend, &chain);
    options.xpub = Some(xpub);
    let app = TestApp::spawn(options).await;
    for (i, account) in expected.iter().enumerate() {
        let data = app.intent("buyer-1", intent_body(&format!("offer-{i}"), "1", "USDC", &chain)).await;
        assert_eq!(data["derivationIndex"], i);
        assert_eq!(data["derivationPath"], format!("m/44'/60'/0'/0/{i}"));
        assert_eq!(address(&data["destination"]), *account, "index {i}");
    }
    app.stop().await;
});

both_backends!(an_intent_naming_no_rail_takes_the_configured_default, |backend| async move {
    let chain = TestChain::start(31337).await;
    let bare = serde_json::json!({
        "purchaseRequestId": "pr-default", "sellerOfferId": "offer-default", "sellerId": "seller-1", "amount": "1",
    });
    const INTENTS: &str = "/api/payment/request-network/intents";

    // The seed's defaults (bsc, USDT) are not in this registry: such an intent is refused, and
    // the answer names the setting, not the registry's first chain.
    let app = TestApp::spawn(AppOptions::new(backend, &chain)).await;
    let (status, refused) = app.post(INTENTS, Some(&app.token("buyer-1", "buyer")), &bare).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`bsc`") && message.contains("PAYSCAN_DEFAULT_NETWORK"), "{refused}");
    app.stop().await;

    let mut options = AppOptions::new(backend, &chain);
    options.env.push(("PAYSCAN_DEFAULT_NETWORK", chain.chain_id.to_string()));
    options.env.push(("PAYSCAN_DEFAULT_TOKEN", "USDC".to_owned()));
    let app = TestApp::spawn(options).await;
    let data = app.intent("buyer-1", bare).await;
    assert_eq!(data["chainId"], chain.chain_id, "{data}");
    assert_eq!(data["token"]["symbol"], "USDC", "{data}");
    app.stop().await;
});
