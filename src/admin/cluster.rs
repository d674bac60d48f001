//! `GET /cluster/instances` (admin): the instances of this cluster whose heartbeat is fresh.

use axum::extract::State;
use axum::Json;

use super::auth::Caller;
use super::error::ApiError;
use super::AdminState;
use crate::store::instances::InstanceInfo;

pub async fn instances(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Vec<InstanceInfo>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.store.live_instances().await?))
}
