//! Fan-out: one call to every host at once, each with its own deadline. A
//! slow or dead host becomes an entry in `errors`; the other hosts' answers
//! still come back, so one dead host never stalls a page.

use std::time::{Duration, Instant};

use berth_api::HostError;
use futures::future::join_all;

use crate::db::{self, hosts::HostRecord};
use crate::error::ApiError;
use crate::state::AppState;

/// Hosts that failed their last health checks get this long at most: a dead
/// host should not cost the whole deadline on every page.
const OFFLINE_DEADLINE: Duration = Duration::from_millis(750);

/// Calls `call` on every host concurrently, each within the deadline (shorter
/// for hosts already known offline); returns the answers in host order and
/// the failures.
pub async fn fan_out<T, F, Fut>(
    state: &AppState,
    hosts: Vec<HostRecord>,
    call: F,
) -> (Vec<(HostRecord, T)>, Vec<HostError>)
where
    F: Fn(HostRecord, Duration) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let deadline = state.config.fanout_deadline();
    let now = db::now_ms();
    let calls = hosts.into_iter().map(|h| {
        let d = if h.is_online(now) {
            deadline
        } else {
            deadline.min(OFFLINE_DEADLINE)
        };
        let fut = call(h.clone(), d);
        async move {
            let start = Instant::now();
            let r = match tokio::time::timeout(d, fut).await {
                Ok(r) => r,
                Err(_) => Err(ApiError::Host {
                    status: 504,
                    host: h.id.clone(),
                    detail: format!("host {} did not answer within {} ms", h.name, d.as_millis()),
                }),
            };
            (h, r, start.elapsed())
        }
    });
    let mut items = Vec::new();
    let mut errors = Vec::new();
    for (h, r, took) in join_all(calls).await {
        match r {
            Ok(v) => {
                state.metrics.record_fanout(&h.id, "ok", took);
                items.push((h, v));
            }
            Err(e) => {
                let p = e.problem();
                state.metrics.record_fanout(
                    &h.id,
                    if p.status == 504 { "timeout" } else { "error" },
                    took,
                );
                errors.push(HostError {
                    host: h.id.clone(),
                    status: p.status,
                    detail: p.detail,
                });
            }
        }
    }
    (items, errors)
}
