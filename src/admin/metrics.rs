//! `GET /metrics`: Prometheus text exposition.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AdminState;

pub async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    let records = if state.store.is_down() {
        None
    } else {
        state.store.list_certificates().await.ok()
    };
    let body = crate::metrics::render(records.as_deref());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
