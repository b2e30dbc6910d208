//! `GET /api/payment/health`.

use axum::extract::State;
use axum::Json;
use payscan_core::tasks::TaskState;

use crate::error::{ApiError, ErrorCode};
use crate::schemas::ErrorBody;
use crate::state::AppState;
use crate::views::admin::{HealthStatus, Liveness, TaskView};

pub(super) fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(health))
}

/// Health.
///
/// Liveness and database reachability, with every route this API serves and every background
/// task of this instance: `status` is `degraded` while a task that should run has failed.
#[utoipa::path(
    get,
    path = "/api/payment/health",
    operation_id = "getHealth",
    tag = "operations",
    responses(
        (status = 200, description = "Running (`status` says whether every background task is)", body = Liveness),
        (status = 503, description = "The database is unreachable (`DATABASE_UNAVAILABLE`)", body = ErrorBody),
    )
)]
pub(super) async fn health(State(state): State<AppState>) -> Result<Json<Liveness>, ApiError> {
    state
        .store
        .ping()
        .await
        .map_err(|_| ApiError::new(ErrorCode::DatabaseUnavailable, "the database is unreachable"))?;
    let tasks = state.tasks.all();
    let failed = tasks.iter().any(|t| t.state == TaskState::Failed);
    Ok(Json(Liveness {
        success: true,
        message: "payscan is running",
        version: env!("CARGO_PKG_VERSION"),
        chains: state.registry.current().chains().iter().map(|c| c.chain_id).collect(),
        endpoints: super::docs::endpoints(),
        status: if failed { HealthStatus::Degraded } else { HealthStatus::Ok },
        tasks: tasks.into_iter().map(TaskView::from).collect(),
    }))
}
