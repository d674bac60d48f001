//! `GET /cluster/instances` (admin): the instances of this cluster whose heartbeat is fresh;
//! `GET /events/` (admin): the cluster's recent lifecycle events.

use axum::extract::State;
use axum::Json;

use super::auth::Caller;
use super::error::ApiError;
use super::AdminState;
use crate::store::instances::InstanceInfo;
use crate::store::recent_events::RecentEvent;

/// `GET /cluster/instances`: the instances that wrote a heartbeat recently.
pub async fn instances(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Vec<InstanceInfo>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.store.cluster().live_instances().await?))
}

/// `GET /events/`: the newest lifecycle events of the cluster, newest first.
pub async fn events(
    State(state): State<AdminState>,
    caller: Caller,
) -> Result<Json<Vec<RecentEvent>>, ApiError> {
    caller.require_admin()?;
    Ok(Json(state.store.cluster().recent_events().await?))
}
