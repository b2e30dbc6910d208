//! A JSON-RPC proxy in front of anvil that injects the faults real providers show: refused
//! ranges, 429s, truncated bodies, dropped connections, slow answers, a node that is down, one whose
//! head is stuck or runs ahead, one that lies about a log, a load balancer in front of a lagging
//! node, one that drops every other eth_getLogs answer, one that rate-limits eth_getLogs, one that
//! answers without end, one whose `finalized` block lags. A real part (anvil) behind it; only the
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
    /// Share of eth_sendRawTransaction calls that reach anvil and are then answered 502, as a
    /// gateway that lost the node's answer does.
    pub lose_send_answers: f64,
    /// Every request waits this long first (a slow node).
    pub latency: Duration,
    /// eth_blockNumber waits this long before it asks anvil.
    pub head_latency: Duration,
    /// Answer every other eth_getLogs that has logs with `[]` (a backend whose log index lags).
    /// Counting only answers with logs keeps the fault on the answers that matter, however the
    /// follower's polls fall between blocks.
    pub empty_logs_every_other: bool,
    /// A load balancer over a node this many blocks behind and a caught-up one, either answering
    /// any request: on the lagging node's turns the head is lower, newer blocks and receipts are
    /// unknown and eth_getLogs stops at its head.
    pub lagging_backend: Option<u64>,
    /// Answer every eth_getLogs with 429, `Retry-After: <seconds>` and "rate limit exceeded".
    pub rate_limit_logs: Option<u64>,
    /// Answer eth_getLogs with `[]` followed by this many bytes of whitespace, streamed.
    pub oversized_logs: Option<usize>,
    /// The next this many calls of this method lose their connection mid-answer.
    pub drop_next: Option<(&'static str, usize)>,
    /// The `finalized` block is held at this one, however far the chain moves on.
    pub finalized_held_at: Option<u64>,
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
            lose_send_answers: 0.0,
            latency: Duration::ZERO,
            head_latency: Duration::ZERO,
            empty_logs_every_other: false,
            lagging_backend: None,
            rate_limit_logs: None,
            oversized_logs: None,
            drop_next: None,
            finalized_held_at: None,
        }
    }
}

struct Inner {
    faults: Faults,
    calls: HashMap<String, usize>,
    refused: usize,
    faulted: usize,
    rate_limited: usize,
    log_answers: usize,
    withheld: usize,
    answers_lost: usize,
    /// The block ranges of every eth_getLogs answered in full and as the node had them.
    log_ranges: Vec<(u64, u64)>,
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
            rate_limited: 0,
            log_answers: 0,
            withheld: 0,
            answers_lost: 0,
            log_ranges: Vec::new(),
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

    /// How many eth_getLogs were answered 429.
    pub fn rate_limited(&self) -> usize {
        self.inner.lock().expect("lock").rate_limited
    }

    /// How many requests were refused as too wide a range.
    pub fn refused(&self) -> usize {
        self.inner.lock().expect("lock").refused
    }

    pub fn set(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.inner.lock().expect("lock").faults);
    }

    /// eth_sendRawTransaction calls that reached anvil and were answered 502.
    pub fn answers_lost(&self) -> usize {
        self.inner.lock().expect("lock").answers_lost
    }

    /// eth_getLogs answers that had logs and were answered with `[]`.
    pub fn withheld(&self) -> usize {
        self.inner.lock().expect("lock").withheld
    }

    /// The block ranges of the eth_getLogs answered in full and true, in the order answered.
    pub fn answered_log_ranges(&self) -> Vec<(u64, u64)> {
        self.inner.lock().expect("lock").log_ranges.clone()
    }

    /// Requests of every method so far.
    pub fn total_calls(&self) -> usize {
        self.inner.lock().expect("lock").calls.values().sum()
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
    let (faults, hit, refusal, lagging_turn, answer_lost) = {
        let mut inner = state.inner.lock().expect("lock");
        *inner.calls.entry(method.clone()).or_insert(0) += 1;
        let faults = inner.faults.clone();
        let lagging_turn = match faults.lagging_backend {
            Some(lag) if inner.rng.gen_bool(0.5) => Some(lag),
            _ => None,
        };
        if method == "eth_getLogs" && faults.rate_limit_logs.is_some() {
            inner.rate_limited += 1;
        }
        let send_fails = method == "eth_sendRawTransaction"
            && faults.fail_send > 0.0
            && inner.rng.gen_bool(faults.fail_send.min(1.0));
        if send_fails {
            inner.refused += 1;
        }
        let answer_lost = method == "eth_sendRawTransaction"
            && !send_fails
            && faults.lose_send_answers > 0.0
            && inner.rng.gen_bool(faults.lose_send_answers.min(1.0));
        if answer_lost {
            inner.answers_lost += 1;
        }
        let drop_this = match &mut inner.faults.drop_next {
            Some((name, left)) if *name == method && *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        };
        let hit = if drop_this {
            inner.faulted += 1;
            Some(Hit::Dropped)
        } else if faults.flaky > 0.0 && inner.rng.gen_bool(faults.flaky.min(1.0)) {
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
        (faults, hit, too_wide || send_fails, lagging_turn, answer_lost)
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
    if let (Some(seconds), "eth_getLogs") = (faults.rate_limit_logs, method.as_str()) {
        let body = json!({ "jsonrpc": "2.0", "id": request["id"],
            "error": { "code": -32005, "message": "rate limit exceeded" } });
        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", seconds.to_string())], Json(body)).into_response();
    }
    if let (Some(padding), "eth_getLogs") = (faults.oversized_logs, method.as_str()) {
        let head = format!("{{\"jsonrpc\":\"2.0\",\"id\":{},\"result\":[]}}", request["id"]);
        let chunks = std::iter::once(head.into_bytes())
            .chain(std::iter::repeat_n(vec![b' '; 64 * 1024], padding.div_ceil(64 * 1024)))
            .map(|chunk| Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk)));
        return (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            Body::from_stream(futures_util::stream::iter(chunks)),
        )
            .into_response();
    }
    if let Some(lag) = lagging_turn {
        if let Some(response) = lagging_answer(&state, &request, &method, lag).await {
            return response;
        }
    }
    if let (Some(head), "eth_blockNumber") = (faults.stale_head, method.as_str()) {
        return Json(json!({ "jsonrpc": "2.0", "id": request["id"], "result": format!("{head:#x}") })).into_response();
    }
    let mut request = request;
    if let (Some(held), "eth_getBlockByNumber") = (faults.finalized_held_at, method.as_str()) {
        if request["params"][0] == "finalized" {
            request["params"][0] = json!(format!("{held:#x}"));
        }
    }
    let response = match state.http.post(&state.upstream).json(&request).send().await {
        Ok(response) => response,
        Err(_) => return (StatusCode::BAD_GATEWAY, "anvil is gone").into_response(),
    };
    let mut body: Value = match response.json().await {
        Ok(body) => body,
        Err(_) => return (StatusCode::BAD_GATEWAY, "anvil answered garbage").into_response(),
    };
    if answer_lost {
        return (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response();
    }
    if let (Some(value), "eth_getLogs") = (faults.forge_transfer_value, method.as_str()) {
        for log in body["result"].as_array_mut().into_iter().flatten() {
            if log["topics"][0] == TRANSFER_TOPIC {
                log["data"] = json!(format!("0x{value:064x}"));
            }
        }
    }
    let mut withheld = false;
    if faults.empty_logs_every_other && method == "eth_getLogs" {
        let has_logs = body["result"].as_array().is_some_and(|logs| !logs.is_empty());
        if has_logs {
            let mut inner = state.inner.lock().expect("lock");
            inner.log_answers += 1;
            if inner.log_answers % 2 == 1 {
                inner.withheld += 1;
                withheld = true;
                body["result"] = json!([]);
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
    if method == "eth_getLogs" && body["result"].is_array() && !withheld && faults.forge_transfer_value.is_none() {
        let filter = &request["params"][0];
        if let (Some(from), Some(to)) = (block_number(&filter["fromBlock"]), block_number(&filter["toBlock"])) {
            state.inner.lock().expect("lock").log_ranges.push((from, to));
        }
    }
    Json(body).into_response()
}

/// What a node `lag` blocks behind anvil answers, where that differs from anvil's answer.
async fn lagging_answer(state: &ProxyState, request: &Value, method: &str, lag: u64) -> Option<Response> {
    let ask = |method: &str, params: Value| {
        let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params });
        let request = state.http.post(&state.upstream).json(&body);
        async move { request.send().await.ok()?.json::<Value>().await.ok() }
    };
    let head = block_number(&ask("eth_blockNumber", json!([])).await?["result"])?.saturating_sub(lag);
    let answer =
        |result: Value| Some(Json(json!({ "jsonrpc": "2.0", "id": request["id"], "result": result })).into_response());
    match method {
        "eth_blockNumber" => answer(json!(format!("{head:#x}"))),
        "eth_getBlockByNumber" => match block_number(&request["params"][0]) {
            Some(number) if number > head => answer(Value::Null),
            _ => None,
        },
        "eth_getTransactionReceipt" => {
            let receipt = ask(method, request["params"].clone()).await?["result"].clone();
            match block_number(&receipt["blockNumber"]) {
                Some(number) if number > head => answer(Value::Null),
                _ => answer(receipt),
            }
        }
        "eth_getLogs" => {
            let mut logs = ask(method, request["params"].clone()).await?["result"].clone();
            if let Some(list) = logs.as_array_mut() {
                list.retain(|log| block_number(&log["blockNumber"]).is_some_and(|n| n <= head));
            }
            answer(logs)
        }
        _ => None,
    }
}

/// keccak256("Transfer(address,address,uint256)").
const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
