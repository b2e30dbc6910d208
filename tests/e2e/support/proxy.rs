//! A JSON-RPC proxy in front of anvil that injects the faults real providers show: refused
//! ranges, 429s, truncated bodies, dropped connections, slow answers, a node that is down, one whose
//! head is stuck or runs ahead, one that lies about a log. A real part (anvil) behind it; only the
//! faults are made up.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use alloy::primitives::U256;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// What the proxy does wrong.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Refuse eth_getLogs over more blocks than this, as geth words it.
    pub max_log_range: Option<u64>,
    /// Rewrite the value of every ERC-20 Transfer log eth_getLogs returns (receipts stay true).
    pub forge_transfer_value: Option<U256>,
    /// Share of requests (0.0–1.0) that meet one of: 429, a truncated body, a dropped connection,
    /// an answer slower than `delay`.
    pub flaky: f64,
    /// How long a slow answer takes (longer than payscan's RPC timeout in the tests).
    pub delay: Duration,
    /// Answer every request with 503.
    pub down: bool,
    /// eth_blockNumber always says this (a node stuck at a block).
    pub stale_head: Option<u64>,
    /// eth_blockNumber says this many blocks more than the truth.
    pub head_ahead: u64,
    /// Share of eth_sendRawTransaction calls answered with an error instead of reaching anvil.
    pub fail_send: f64,
    /// Every request waits this long first (a slow node).
    pub latency: Duration,
    /// eth_blockNumber waits this long before it asks anvil.
    pub head_latency: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            max_log_range: None,
            forge_transfer_value: None,
            flaky: 0.0,
            delay: Duration::from_millis(1500),
            down: false,
            stale_head: None,
            head_ahead: 0,
            fail_send: 0.0,
            latency: Duration::ZERO,
            head_latency: Duration::ZERO,
        }
    }
}

struct Inner {
    faults: Faults,
    calls: HashMap<String, usize>,
    refused: usize,
    faulted: usize,
    rng: StdRng,
}

/// A fault that hits one request.
#[derive(Debug, Clone, Copy)]
enum Hit {
    TooManyRequests,
    Truncated,
    Dropped,
    Slow,
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
        let inner = Arc::new(Mutex::new(Inner {
            faults,
            calls: HashMap::new(),
            refused: 0,
            faulted: 0,
            rng: StdRng::seed_from_u64(7),
        }));
        let state = ProxyState { upstream: upstream.to_owned(), http: reqwest::Client::new(), inner: inner.clone() };
        // Any path, as providers that take the API key in the path do.
        let app = Router::new().route("/", post(forward)).fallback(forward).with_state(state);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner, server }
    }

    /// How many requests met a 429, truncation, drop or delay.
    pub fn faulted(&self) -> usize {
        self.inner.lock().expect("lock").faulted
    }

    /// How many requests were refused as too wide a range.
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

async fn forward(State(state): State<ProxyState>, Json(request): Json<Value>) -> Response {
    let method = request["method"].as_str().unwrap_or_default().to_owned();
    let (faults, hit, refusal) = {
        let mut inner = state.inner.lock().expect("lock");
        *inner.calls.entry(method.clone()).or_insert(0) += 1;
        let faults = inner.faults.clone();
        let send_fails = method == "eth_sendRawTransaction"
            && faults.fail_send > 0.0
            && inner.rng.gen_bool(faults.fail_send.min(1.0));
        if send_fails {
            inner.refused += 1;
        }
        let hit = if faults.flaky > 0.0 && inner.rng.gen_bool(faults.flaky.min(1.0)) {
            inner.faulted += 1;
            Some([Hit::TooManyRequests, Hit::Truncated, Hit::Dropped, Hit::Slow][inner.rng.gen_range(0..4)])
        } else {
            None
        };
        let too_wide = match (&method[..], faults.max_log_range) {
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
        (faults, hit, too_wide || send_fails)
    };
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    if !faults.head_latency.is_zero() && method == "eth_blockNumber" {
        tokio::time::sleep(faults.head_latency).await;
    }
    if faults.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response();
    }
    match hit {
        Some(Hit::TooManyRequests) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({ "jsonrpc": "2.0", "id": request["id"],
                "error": { "code": 429, "message": "Too Many Requests" } })),
            )
                .into_response();
        }
        Some(Hit::Dropped) => {
            // Promises more than it sends: the connection dies mid-answer.
            let mut response = Response::new(Body::from("{\"jsonrpc\":\"2.0\""));
            response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from_static("4096"));
            return response;
        }
        Some(Hit::Slow) => tokio::time::sleep(faults.delay).await,
        Some(Hit::Truncated) | None => {}
    }
    if refusal {
        return Json(json!({
            "jsonrpc": "2.0", "id": request["id"],
            "error": if method == "eth_sendRawTransaction" {
                json!({ "code": -32603, "message": "internal error: upstream unavailable" })
            } else {
                json!({ "code": -32005, "message": "query returned more than 10000 results" })
            }
        }))
        .into_response();
    }
    if let (Some(head), "eth_blockNumber") = (faults.stale_head, method.as_str()) {
        return Json(json!({ "jsonrpc": "2.0", "id": request["id"], "result": format!("{head:#x}") })).into_response();
    }
    let response = match state.http.post(&state.upstream).json(&request).send().await {
        Ok(response) => response,
        Err(_) => return (StatusCode::BAD_GATEWAY, "anvil is gone").into_response(),
    };
    let mut body: Value = match response.json().await {
        Ok(body) => body,
        Err(_) => return (StatusCode::BAD_GATEWAY, "anvil answered garbage").into_response(),
    };
    if let (Some(value), "eth_getLogs") = (faults.forge_transfer_value, method.as_str()) {
        for log in body["result"].as_array_mut().into_iter().flatten() {
            if log["topics"][0] == TRANSFER_TOPIC {
                log["data"] = json!(format!("0x{value:064x}"));
            }
        }
    }
    if faults.head_ahead > 0 && method == "eth_blockNumber" {
        if let Some(head) = block_number(&body["result"]) {
            body["result"] = json!(format!("{:#x}", head + faults.head_ahead));
        }
    }
    if let Some(Hit::Truncated) = hit {
        let text = body.to_string();
        return (StatusCode::OK, [(CONTENT_TYPE, "application/json")], text[..text.len() / 2].to_owned())
            .into_response();
    }
    Json(body).into_response()
}

/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
