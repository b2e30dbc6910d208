//! A JSON-RPC proxy in front of anvil that injects faults real providers show: refusing
//! eth_getLogs ranges as too large, or lying about what a log says. A real part (anvil) behind
//! it; only the faults are made up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy::primitives::U256;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// What the proxy does wrong.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Refuse eth_getLogs over more blocks than this, as geth words it.
    pub max_log_range: Option<u64>,
    /// Rewrite the value of every ERC-20 Transfer log eth_getLogs returns (receipts stay true).
    pub forge_transfer_value: Option<U256>,
}

#[derive(Default)]
struct Inner {
    faults: Faults,
    calls: HashMap<String, usize>,
    refused: usize,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    inner: Arc<Mutex<Inner>>,
}

/// The proxy, on 127.0.0.1.
pub struct RpcProxy {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    server: JoinHandle<()>,
}

impl RpcProxy {
    pub async fn start(upstream: &str, faults: Faults) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let inner = Arc::new(Mutex::new(Inner { faults, ..Default::default() }));
        let state = ProxyState { upstream: upstream.to_owned(), http: reqwest::Client::new(), inner: inner.clone() };
        let app = Router::new().route("/", post(forward)).with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner, server }
    }

    /// How many requests were refused by an injected fault.
    pub fn refused(&self) -> usize {
        self.inner.lock().expect("lock").refused
    }

    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.inner.lock().expect("lock").faults);
    }

    pub fn calls(&self, method: &str) -> usize {
        self.inner.lock().expect("lock").calls.get(method).copied().unwrap_or(0)
    }
}

impl Drop for RpcProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn block_number(value: &Value) -> Option<u64> {
    u64::from_str_radix(value.as_str()?.trim_start_matches("0x"), 16).ok()
}

async fn forward(State(state): State<ProxyState>, Json(request): Json<Value>) -> Json<Value> {
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    let refusal = {
        let mut inner = state.inner.lock().expect("lock");
        *inner.calls.entry(method.clone()).or_insert(0) += 1;
        let too_wide = match (&method[..], inner.faults.max_log_range) {
            ("eth_getLogs", Some(max)) => {
                let filter = &request["params"][0];
                match (block_number(&filter["fromBlock"]), block_number(&filter["toBlock"])) {
                    (Some(from), Some(to)) => to + 1 - from > max,
                    _ => false,
                }
            }
            _ => false,
        };
        if too_wide {
            inner.refused += 1;
        }
        too_wide
    };
    if refusal {
        return Json(json!({
            "jsonrpc": "2.0", "id": request["id"],
            "error": { "code": -32005, "message": "query returned more than 10000 results" }
        }));
    }
    let response = state.http.post(&state.upstream).json(&request).send().await.expect("upstream anvil");
    let mut body: Value = response.json().await.expect("upstream JSON");
    let forged = state.inner.lock().expect("lock").faults.forge_transfer_value;
    if let (Some(value), "eth_getLogs") = (forged, method.as_str()) {
        for log in body["result"].as_array_mut().into_iter().flatten() {
            if log["topics"][0] == TRANSFER_TOPIC {
                log["data"] = json!(format!("0x{value:064x}"));
            }
        }
    }
    Json(body)
}

/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
