//! The OpenAPI 3.1 document: [`ApiDoc`]'s info, tags and shared shapes, with the paths of the
//! routes the router serves (each handler's `#[utoipa::path]`, gathered where the route is
//! declared), served at `/api/openapi.json`; and `/api/docs`, a page that renders it on the
//! server. The page loads no script from anywhere: an admin's browser holding a bearer token runs
//! no third-party code on payscan's origin.

use std::fmt::Write as _;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::schemas;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "payscan",
        description = "Self-hosted stablecoin payments on EVM chains. Amounts are integers in token \
            base units as decimal strings (`…BaseUnits`), or token units as decimal strings. Every \
            error is `{success: false, error: {code, message}}`. Tokens are HS256 JWTs with `sub`, \
            `role` (`buyer` or `admin`) and `exp`.",
        license(name = "MIT OR Apache-2.0")
    ),
    components(schemas(schemas::ErrorBody, schemas::BaseUnits, schemas::TokenUnits, schemas::Address, schemas::TxHash)),
    tags(
        (name = "payments", description = "Intents, reads and reports"),
        (name = "checkout", description = "What a wallet sends, permits, live events"),
        (name = "escrow", description = "Releasing or refunding a completed payment"),
        (name = "payouts", description = "Money out, with retries into manual review"),
        (name = "ledger", description = "Every movement of money, append-only"),
        (name = "custody", description = "Derived destinations and sweeps to the master wallet"),
        (name = "admin", description = "Thresholds, the registry, the scanner"),
        (name = "webhooks", description = "payscan's own Standard Webhooks receiver"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
pub(super) struct ApiDoc;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json)).routes(routes!(docs_page))
}

/// Adds the bearer scheme and the answers every operation can give: 400 for bad input, 503 when
/// the database is busy, and for operations behind a token 401 and 403; 404 where a path names
/// something; 413 and 415 where a body is read.
struct StandardResponses;

impl Modify for StandardResponses {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        for (path, item) in openapi.paths.paths.iter_mut() {
            let names_something = path.contains('{');
            for operation in operations(item) {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = operation.request_body.is_some();
                let mut add = |status: &str, description: &str| {
                    let responses = &mut operation.responses.responses;
                    if !responses.contains_key(status) {
                        let error = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build();
                        let response =
                            ResponseBuilder::new().description(description).content("application/json", error).build();
                        responses.insert(status.to_owned(), response.into());
                    }
                };
                add("400", "Bad input (`VALIDATION_ERROR`, `MALFORMED_JSON`, …)");
                if secured {
                    add("401", "No token, or a bad or expired one (`UNAUTHORIZED`)");
                    add("403", "Not yours, or admins only (`FORBIDDEN`)");
                }
                if names_something {
                    add("404", "Nothing by that id (`NOT_FOUND`)");
                }
                if has_body {
                    add("413", "Body over 64 KiB (`PAYLOAD_TOO_LARGE`)");
                    add("415", "Not `Content-Type: application/json` (`UNSUPPORTED_MEDIA_TYPE`)");
                }
                add("503", "The database is busy or unreachable; retry (`DATABASE_UNAVAILABLE`)");
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
        item.options.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// The operations payscan serves on a path, by method.
fn methods(item: &PathItem) -> impl Iterator<Item = (&'static str, &Operation)> {
    [("GET", &item.get), ("PUT", &item.put), ("POST", &item.post), ("DELETE", &item.delete), ("PATCH", &item.patch)]
        .into_iter()
        .filter_map(|(method, operation)| operation.as_ref().map(|o| (method, o)))
}

/// The document, built once: [`ApiDoc`] with the paths of every route the router serves.
/// [`StandardResponses`] runs here, not as a modifier of [`ApiDoc`]: a modifier runs before the
/// routes' paths are merged in and would see none.
pub(crate) fn document() -> &'static Document {
    static DOCUMENT: std::sync::OnceLock<Document> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut document) = super::documented().split_for_parts();
        StandardResponses.modify(&mut document);
        document
    })
}

/// The document as JSON, with what utoipa cannot state: the `webhooks` of OpenAPI 3.1, the one
/// request payscan sends to every target, its body the [`payscan_core::event::WebhookEvent`] the
/// dispatcher serializes and the receiver route parses.
fn document_json() -> &'static Value {
    static JSON: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    JSON.get_or_init(|| {
        let mut json = serde_json::to_value(document()).unwrap_or(Value::Null);
        json["webhooks"] = json!({
            "event": { "post": {
                "operationId": "deliverWebhookEvent",
                "summary": "An event, delivered to every webhook target",
                "description": "Signed as Standard Webhooks: `webhook-id` (the same on every retry), \
                    `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and the base64 \
                    HMAC-SHA256 of `id.timestamp.body` keyed by the decoded `whsec_` secret). A 2xx \
                    answer delivers it; anything else is retried on the schedule, 410 ends it.",
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/WebhookEvent" } } } },
                "responses": { "2XX": { "description": "Received" } },
            } },
        });
        json
    })
}

/// The document as pretty JSON: what `payscan openapi` prints and openapi.json at the repository
/// root holds.
pub fn openapi_document() -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(document_json())
}

/// Every operation as `METHOD /path`, in the document's order.
pub(crate) fn endpoints() -> Vec<String> {
    let mut endpoints = Vec::new();
    for (path, item) in &document().paths.paths {
        endpoints.extend(methods(item).map(|(method, _)| format!("{method} {path}")));
    }
    endpoints
}

/// This document.
///
/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "getOpenApiDocument",
    tag = "operations",
    responses((status = 200, description = "This document", content_type = "application/json", body = Object))
)]
pub(super) async fn openapi_json() -> Json<&'static Value> {
    Json(document_json())
}

/// This document, as a page.
///
/// A page that lists every operation of the document, with its parameters, body and answers.
#[utoipa::path(
    get,
    path = "/api/docs",
    operation_id = "getDocsPage",
    tag = "operations",
    responses((status = 200, description = "HTML", content_type = "text/html", body = String))
)]
pub(super) async fn docs_page() -> Response {
    static PAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let page = PAGE.get_or_init(|| render(document()));
    ([(header::CACHE_CONTROL, "no-cache")], Html(page.as_str())).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Markdown-ish code spans (`x`) as `<code>`, after escaping.
fn prose(text: &str) -> String {
    let escaped = escape(text);
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

fn schema_name(schema: &utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) -> String {
    match schema {
        utoipa::openapi::RefOr::Ref(r) => r.ref_location.rsplit('/').next().unwrap_or_default().to_owned(),
        utoipa::openapi::RefOr::T(_) => "inline schema".to_owned(),
    }
}

fn render(doc: &Document) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>payscan API</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>\
         body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}\
         h2{margin-top:2.5rem;border-bottom:1px solid #ddd}code{background:#f3f3f3;padding:0 .2em;border-radius:3px}\
         .op{margin:1.2rem 0;padding:.6rem .9rem;border-left:4px solid #4a7;background:#fafafa}\
         .m{font-weight:700;font-family:monospace;margin-right:.5em}.p{font-family:monospace}\
         table{border-collapse:collapse;margin:.4rem 0}td,th{border:1px solid #ddd;padding:.15rem .5rem;text-align:left}\
         </style></head><body>",
    );
    let _ = write!(html, "<h1>{} {}</h1>", escape(&doc.info.title), escape(&doc.info.version));
    if let Some(description) = &doc.info.description {
        let _ = write!(html, "<p>{}</p>", prose(description));
    }
    html.push_str(
        "<p>Machine-readable: <a href=\"/api/openapi.json\"><code>/api/openapi.json</code></a> (OpenAPI 3.1).</p>",
    );
    for tag in doc.tags.iter().flatten() {
        let _ = write!(html, "<h2>{}</h2>", escape(&tag.name));
        if let Some(description) = &tag.description {
            let _ = write!(html, "<p>{}</p>", prose(description));
        }
        for (path, item) in &doc.paths.paths {
            for (method, operation) in methods(item) {
                if !operation.tags.iter().flatten().any(|t| *t == tag.name) {
                    continue;
                }
                render_operation(&mut html, method, path, operation);
            }
        }
    }
    html.push_str("</body></html>");
    html
}

fn render_operation(html: &mut String, method: &str, path: &str, operation: &Operation) {
    let _ = write!(
        html,
        "<div class=\"op\"><div><span class=\"m\">{method}</span><span class=\"p\">{}</span>",
        escape(path)
    );
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    html.push_str(if secured { " · bearer token</div>" } else { " · no token</div>" });
    if let Some(summary) = &operation.summary {
        let _ = write!(html, "<div><strong>{}</strong></div>", prose(summary));
    }
    if let Some(description) = &operation.description {
        let _ = write!(html, "<p>{}</p>", prose(description));
    }
    if let Some(parameters) = operation.parameters.as_ref().filter(|p| !p.is_empty()) {
        html.push_str("<table><tr><th>parameter</th><th>in</th><th>meaning</th></tr>");
        for parameter in parameters {
            let location = serde_json::to_value(&parameter.parameter_in).unwrap_or_default();
            let _ = write!(
                html,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&parameter.name),
                escape(location.as_str().unwrap_or_default()),
                prose(parameter.description.as_deref().unwrap_or_default())
            );
        }
        html.push_str("</table>");
    }
    if let Some(body) = &operation.request_body {
        let schema = body.content.values().next().and_then(|c| c.schema.as_ref()).map(schema_name);
        let _ = write!(html, "<div>Body: <code>{}</code></div>", escape(&schema.unwrap_or_default()));
    }
    html.push_str("<table><tr><th>status</th><th>answer</th></tr>");
    for (status, response) in &operation.responses.responses {
        let description = match response {
            utoipa::openapi::RefOr::T(r) => r.description.clone(),
            utoipa::openapi::RefOr::Ref(r) => r.ref_location.clone(),
        };
        let _ = write!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(status), prose(&description));
    }
    html.push_str("</table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_described_once_with_its_answers() {
        let doc = document();
        let json = serde_json::to_value(doc).expect("serializes");
        assert_eq!(json["openapi"], "3.1.0");
        let endpoints = endpoints();
        let mut unique = endpoints.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), endpoints.len(), "an operation is listed twice");
        let receiver = format!("POST {}", super::super::RECEIVER_PATH);
        assert!(endpoints.contains(&receiver), "the dispatcher's self target posts to a documented route");
        for (path, item) in doc.paths.paths.clone().iter_mut() {
            for operation in operations(item) {
                let name = format!("{path} {:?}", operation.operation_id);
                assert!(operation.summary.as_deref().is_some_and(|s| !s.is_empty()), "{name} has no summary");
                assert!(operation.tags.as_ref().is_some_and(|t| t.len() == 1), "{name} has no tag");
                assert!(
                    operation.responses.responses.keys().any(|s| s.starts_with('2')),
                    "{name} documents no success"
                );
                assert!(operation.responses.responses.contains_key("400"), "{name} documents no 400");
            }
        }
    }

    #[test]
    fn no_two_shapes_share_a_schema_name() {
        // Merging keeps the first schema of a name, so a second shape of that name would be
        // described by the first one.
        let schemas = &document().components.as_ref().expect("components").schemas;
        for resource in super::super::resources() {
            let (_, part) = resource.split_for_parts();
            for (name, schema) in part.components.unwrap_or_default().schemas {
                assert!(schemas.get(&name) == Some(&schema), "two shapes are named {name}");
            }
        }
    }

    #[test]
    fn the_docs_page_names_every_operation() {
        let page = render(document());
        for endpoint in endpoints() {
            let (method, path) = endpoint.split_once(' ').expect("METHOD /path");
            assert!(page.contains(&format!("{method}</span><span class=\"p\">{}", escape(path))), "{endpoint} missing");
        }
        assert!(!page.contains("<script"), "the page runs no script");
    }

    #[test]
    fn the_document_lists_each_error_code_once_and_each_code_has_one_status() {
        let json = serde_json::to_value(document()).expect("serializes");
        let schema = &json["components"]["schemas"]["ErrorCode"];
        let codes: Vec<&str> =
            schema["enum"].as_array().expect("an enum of codes").iter().filter_map(|c| c.as_str()).collect();
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "a code is listed twice");
        for code in ["VALIDATION_ERROR", "CHAIN_UNAVAILABLE", "DATABASE_UNAVAILABLE", "INVALID_STATE", "PERMIT_INVALID"]
        {
            assert!(codes.contains(&code), "{code} missing from {codes:?}");
        }
        // One condition, one code: a bad path id is a validation error, a silent RPC is the chain's.
        for merged in ["INVALID_ID", "RPC_UNAVAILABLE"] {
            assert!(!codes.contains(&merged), "{merged} is still answered");
        }
        assert_eq!(
            json["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["$ref"],
            "#/components/schemas/ErrorCode"
        );
        let body = serde_json::to_value(crate::error::ErrorDetail {
            code: crate::error::ErrorCode::ChainUnavailable,
            message: String::new(),
        })
        .expect("serializes");
        assert_eq!(body["code"], "CHAIN_UNAVAILABLE");
        assert_eq!(crate::error::ErrorCode::ChainUnavailable.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn list_parameters_state_the_bounds_the_server_enforces() {
        let json = serde_json::to_value(document()).expect("serializes");
        let parameter = |path: &str, name: &str| {
            json["paths"][path]["get"]["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == name))
                .map(|p| p["schema"].clone())
                .unwrap_or_else(|| panic!("{path} has no {name}"))
        };
        for path in ["/api/payment", "/transactions", "/api/payment/derived-destinations"] {
            let limit = parameter(path, "limit");
            assert_eq!((limit["minimum"].as_i64(), limit["maximum"].as_i64()), (Some(1), Some(200)), "{path}: {limit}");
        }
        assert_eq!(parameter("/api/payment", "offset")["minimum"], 0);
        assert_eq!(parameter("/transactions", "page")["minimum"], 1);
    }

    #[test]
    fn every_operation_has_its_own_operation_id() {
        let mut ids = Vec::new();
        for (path, item) in document().paths.paths.clone().iter_mut() {
            for operation in operations(item) {
                let id = operation.operation_id.clone().unwrap_or_else(|| panic!("{path} has no operationId"));
                assert!(
                    id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                        && id.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{path}: `{id}` is not camelCase"
                );
                ids.push(id);
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "an operationId is used twice");
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let generated = openapi_document().expect("serializes");
        if let Ok(path) = std::env::var("PAYSCAN_WRITE_OPENAPI") {
            std::fs::write(path, format!("{generated}\n")).expect("write");
        }
        let committed = include_str!("../../../openapi.json");
        assert!(
            committed.trim_end() == generated,
            "openapi.json is stale: `cargo run -- openapi > openapi.json` writes the current document"
        );
        let json = document_json();
        assert_eq!(
            json["webhooks"]["event"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/WebhookEvent"
        );
        assert!(
            json["components"]["schemas"]["WebhookEvent"].is_object(),
            "the event body is a schema of the document"
        );
    }
}
