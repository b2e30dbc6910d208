//! payscan's HTTP API: the seed's Payment API routes over axum, one error shape, JWT auth.

pub mod auth;
pub mod error;
pub mod extract;
pub mod feed;
pub mod limits;
pub mod paging;
pub mod routes;
pub mod schemas;
pub mod state;
pub mod views;

pub use error::ApiError;
pub use routes::{openapi_document, ops_router, router};
pub use state::AppState;
