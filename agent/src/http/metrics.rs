//! Metric history and streams: `/v1/metrics` (host), the `/stream` of a
//! container's samples (its engine names the id they are published under)
//! and of the host's, and Prometheus text at `/metrics`.

use berth_api::containers::ContainerState;
use berth_api::metrics::HostSample;
use berth_net::agent_service::EventStream;
use futures::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::AppState;
use super::error::ApiResult;

/// The host's samples as they are taken.
pub(super) fn host_stream(s: &AppState) -> EventStream {
    EventStream::json(
        BroadcastStream::new(s.metrics.subscribe_host())
            .filter_map(|r: Result<HostSample, _>| async move { r.ok() }),
    )
}

/// The samples of the container `c` (of either engine) as they are taken.
pub(super) async fn stats_stream(s: &AppState, c: &str) -> ApiResult<EventStream> {
    let id = s.engines.engine_for(c)?.sampled_id(c).await?;
    let samples = BroadcastStream::new(s.metrics.subscribe_containers()).filter_map(move |r| {
        let id = id.clone();
        async move {
            match r {
                Ok((cid, sample)) if cid == id => Some(sample),
                _ => None,
            }
        }
    });
    Ok(EventStream::json(samples))
}

/// The Prometheus text of the latest round and Berth's containers.
pub(super) fn prometheus(s: &AppState) -> String {
    let (host, containers) = s.metrics.latest();
    let list = s.containers.list(&[], None);
    let states: Vec<(&str, usize)> = [
        ContainerState::Created,
        ContainerState::Running,
        ContainerState::Paused,
        ContainerState::Stopped,
    ]
    .into_iter()
    .map(|st| (st.as_str(), list.iter().filter(|c| c.state == st).count()))
    .collect();
    crate::metrics::prometheus::render(
        host.as_ref(),
        &containers,
        &states,
        &s.metrics.stream_subscribers(),
        s.metrics.last_round().as_secs_f64(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_router_names_the_prometheus_content_type() {
        assert_eq!(
            berth_net::agent_service::PROMETHEUS_CONTENT_TYPE,
            crate::metrics::prometheus::CONTENT_TYPE
        );
    }
}
