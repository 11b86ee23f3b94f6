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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use berth_api::hosts::{CgroupMode, HostFacts};

    fn host(id: &str, online: bool) -> HostRecord {
        HostRecord {
            id: id.into(),
            name: id.into(),
            address: format!("https://{id}.invalid:7443"),
            groups: Vec::new(),
            labels: Default::default(),
            facts: HostFacts {
                kernel: String::new(),
                os: String::new(),
                cgroup: CgroupMode::V2,
                cpus: 1,
                memory_bytes: 0,
                hostname: String::new(),
                arch: String::new(),
            },
            runtimes: Vec::new(),
            agent_version: String::new(),
            cert_pem: String::new(),
            cert_sha256: String::new(),
            created_at: 0,
            last_seen: online.then(db::now_ms),
        }
    }

    /// The deadlines on tokio's paused clock: the test takes no real time,
    /// and "within the deadline" is exact to the millisecond, not a guess
    /// about a loaded CI machine.
    #[tokio::test]
    async fn each_host_gets_its_deadline_and_a_late_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_data_dir(dir.path().join("data"));
        config.fanout_deadline_ms = 3000;
        let state = AppState::new(config).await.expect("state");
        // The database and keys are ready; from here on only timers run.
        tokio::time::pause();
        let start = tokio::time::Instant::now();
        let hosts = ["fast", "slow", "down", "refuses"]
            .map(|id| host(id, id != "down"))
            .to_vec();
        let (items, errors) = fan_out(&state, hosts, |h, deadline| async move {
            match h.id.as_str() {
                "fast" => tokio::time::sleep(Duration::from_millis(100)).await,
                "refuses" => {
                    return Err(ApiError::Host {
                        status: 502,
                        host: h.id,
                        detail: "refused".into(),
                    });
                }
                _ => tokio::time::sleep(Duration::from_secs(60)).await,
            }
            Ok(deadline)
        })
        .await;
        // The page waited for the longest deadline, not for the slow host
        // (to the millisecond: tokio's timers round up to the next one).
        let took = start.elapsed();
        let deadline = Duration::from_secs(3);
        assert!(
            took >= deadline && took <= deadline + Duration::from_millis(1),
            "{took:?}"
        );
        let answered: Vec<_> = items.iter().map(|(h, d)| (h.id.as_str(), *d)).collect();
        assert_eq!(answered, [("fast", Duration::from_secs(3))]);
        let failed: Vec<_> = errors
            .iter()
            .map(|e| (e.host.as_str(), e.status, e.detail.as_str()))
            .collect();
        assert_eq!(
            failed,
            [
                ("slow", 504, "host slow did not answer within 3000 ms"),
                // Known offline: 750 ms, not the whole deadline.
                ("down", 504, "host down did not answer within 750 ms"),
                ("refuses", 502, "refused"),
            ]
        );
    }
}
