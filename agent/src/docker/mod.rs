//! The Docker bridge: when a Docker engine answers on the host's socket,
//! its containers appear in the agent's API with `runtime: "docker"`, and
//! the same actions, logs, stats and creates work on them, through bollard
//! (the Docker Engine API).
//!
//! The bridge is optional: [`DockerBridge::connect`] answers `None` when no
//! engine answers, and the agent then shows nothing of Docker. The rest of
//! the agent sees it through the [`Engine`] trait.
//!
//! Stats history: the agent's sampler reads Docker's running containers'
//! cgroups itself, every second, into the same rings as Berth's own
//! ([`Engine::running`] names each one's init pid; its cgroup comes from
//! `/proc/<pid>/cgroup`), so `stats?window=` and `stats/stream` work alike
//! and dockerd is not asked for stats every second.

mod convert;

use std::collections::HashMap;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::containers::{Container, ContainerAction, ContainerSpec, CreatedContainer, LogLine};
use berth_api::metrics::ContainerSample;
use bollard::Docker;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, KillContainerOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RestartContainerOptionsBuilder, StartContainerOptions, StatsOptionsBuilder,
    StopContainerOptionsBuilder,
};
use futures::{Stream, StreamExt};

/// Errors of the bridge, with their HTTP meaning.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the Docker engine failed: {0}")]
    Engine(String),
}

impl Error {
    pub fn status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Invalid(_) => 422,
            Error::Engine(_) => 502,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn engine_error(e: bollard::errors::Error, key: &str) -> Error {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => Error::NotFound(key.to_string()),
            304 | 409 => Error::Conflict(message),
            400 => Error::Invalid(message),
            _ => Error::Engine(message),
        },
        other => Error::Engine(other.to_string()),
    }
}

/// A future of the bridge.
pub type BoxFuture<'a, T> = Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
/// A stream of the bridge.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// A container engine other than Berth's own, as the API drives it.
pub trait Engine: Send + Sync {
    fn list(&self, host: &str) -> BoxFuture<'_, Result<Vec<Container>>>;
    /// By id, id prefix or name.
    fn get<'a>(&'a self, key: &'a str, host: &'a str) -> BoxFuture<'a, Result<Container>>;
    fn create(&self, spec: ContainerSpec, start: bool) -> BoxFuture<'_, Result<CreatedContainer>>;
    fn action<'a>(
        &'a self,
        key: &'a str,
        action: ContainerAction,
        timeout: Duration,
        signal: i32,
    ) -> BoxFuture<'a, Result<()>>;
    fn remove<'a>(&'a self, key: &'a str, force: bool) -> BoxFuture<'a, Result<()>>;
    /// Log lines; with `follow`, a stream that ends when the container stops.
    fn logs(
        &self,
        key: &str,
        tail: Option<usize>,
        since: Option<i64>,
        follow: bool,
    ) -> BoxStream<Result<LogLine>>;
    fn stats<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ContainerSample>>;
    /// The full id of a container named by id, id prefix or name.
    fn resolve_id<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<String>>;
    /// The running containers and their init pids, for the sampler.
    fn running(&self) -> BoxFuture<'_, Result<Vec<Running>>>;
    /// Starts `argv` in a running container, attached (with a tty when asked).
    fn exec<'a>(
        &'a self,
        key: &'a str,
        argv: Vec<String>,
        tty: bool,
    ) -> BoxFuture<'a, Result<ExecSession>>;
}

/// A running container of another engine, as the sampler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub id: String,
    pub name: String,
    /// Its init, in the host's pid namespace.
    pub pid: u32,
}

/// An attached exec in another engine.
pub struct ExecSession {
    /// The terminal's output (stdout and stderr).
    pub output: BoxStream<Result<Vec<u8>>>,
    pub input: Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    pub control: Arc<dyn ExecControl>,
}

/// Resize and exit status of an [`ExecSession`].
pub trait ExecControl: Send + Sync {
    fn resize(&self, cols: u16, rows: u16) -> BoxFuture<'_, ()>;
    /// The exit code once it has ended.
    fn exit_code(&self) -> BoxFuture<'_, Option<i32>>;
}

struct DockerExec {
    docker: Docker,
    id: String,
}

impl ExecControl for DockerExec {
    fn resize(&self, cols: u16, rows: u16) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = self
                .docker
                .resize_exec(
                    &self.id,
                    bollard::exec::ResizeExecOptions {
                        height: rows,
                        width: cols,
                    },
                )
                .await;
        })
    }

    fn exit_code(&self) -> BoxFuture<'_, Option<i32>> {
        Box::pin(async move {
            for _ in 0..50 {
                match self.docker.inspect_exec(&self.id).await {
                    Ok(i) if i.running == Some(false) => {
                        return i.exit_code.map(|c| i32::try_from(c).unwrap_or(255));
                    }
                    Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(_) => return None,
                }
            }
            None
        })
    }
}

/// The bridge to one dockerd.
#[derive(Clone)]
pub struct DockerBridge {
    docker: Docker,
    /// Container id → init pid, so that a running container is inspected
    /// once, not every second (again when that pid is gone: a restart).
    pids: Arc<Mutex<HashMap<String, u32>>>,
}

impl DockerBridge {
    /// Connects to the engine on `socket`; `None` when nothing answers.
    pub async fn connect(socket: &Path) -> Option<Self> {
        if !socket.exists() {
            return None;
        }
        let docker =
            Docker::connect_with_unix(&socket.to_string_lossy(), 30, bollard::API_DEFAULT_VERSION)
                .ok()?;
        match tokio::time::timeout(Duration::from_secs(3), docker.ping()).await {
            Ok(Ok(_)) => Some(Self {
                docker,
                pids: Arc::default(),
            }),
            _ => None,
        }
    }

    async fn inspect(&self, key: &str) -> Result<bollard::models::ContainerInspectResponse> {
        self.docker
            .inspect_container(key, None::<InspectContainerOptions>)
            .await
            .map_err(|e| engine_error(e, key))
    }
}

impl Engine for DockerBridge {
    fn list(&self, host: &str) -> BoxFuture<'_, Result<Vec<Container>>> {
        let host = host.to_string();
        Box::pin(async move {
            let opts = ListContainersOptionsBuilder::default().all(true).build();
            let summaries = self
                .docker
                .list_containers(Some(opts))
                .await
                .map_err(|e| engine_error(e, "list"))?;
            let mut out = Vec::new();
            for s in summaries {
                let Some(id) = s.id else { continue };
                // A container removed between list and inspect is skipped.
                if let Ok(i) = self.inspect(&id).await {
                    out.push(convert::container(&i, &host));
                }
            }
            Ok(out)
        })
    }

    fn get<'a>(&'a self, key: &'a str, host: &'a str) -> BoxFuture<'a, Result<Container>> {
        Box::pin(async move { Ok(convert::container(&self.inspect(key).await?, host)) })
    }

    fn create(&self, spec: ContainerSpec, start: bool) -> BoxFuture<'_, Result<CreatedContainer>> {
        Box::pin(async move {
            let body = convert::create_body(&spec)?;
            let mut opts = CreateContainerOptionsBuilder::default();
            if let Some(n) = &spec.name {
                opts = opts.name(n);
            }
            let created = self
                .docker
                .create_container(Some(opts.build()), body)
                .await
                .map_err(|e| match engine_error(e, &spec.image) {
                    Error::NotFound(_) => Error::Invalid(format!(
                        "image {:?} is not in the Docker engine: load or pull it there first",
                        spec.image
                    )),
                    other => other,
                })?;
            if start {
                self.docker
                    .start_container(&created.id, None::<StartContainerOptions>)
                    .await
                    .map_err(|e| engine_error(e, &created.id))?;
            }
            let name = self
                .inspect(&created.id)
                .await
                .map(|i| {
                    i.name
                        .unwrap_or_default()
                        .trim_start_matches('/')
                        .to_string()
                })
                .unwrap_or_default();
            Ok(CreatedContainer {
                id: created.id,
                name,
            })
        })
    }

    fn action<'a>(
        &'a self,
        key: &'a str,
        action: ContainerAction,
        timeout: Duration,
        signal: i32,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let state = self.inspect(key).await?.state.unwrap_or_default();
            let running = state.running.unwrap_or(false);
            let paused = state.paused.unwrap_or(false);
            let d = &self.docker;
            let r = match action {
                ContainerAction::Start if running => {
                    return Err(Error::Conflict(format!(
                        "container {key} is already running"
                    )));
                }
                ContainerAction::Start => {
                    d.start_container(key, None::<StartContainerOptions>).await
                }
                ContainerAction::Stop | ContainerAction::Kill if !running => {
                    return Err(Error::Conflict(format!("container {key} is not running")));
                }
                ContainerAction::Stop => {
                    let o = StopContainerOptionsBuilder::default()
                        .t(secs_i32(timeout))
                        .build();
                    d.stop_container(key, Some(o)).await
                }
                ContainerAction::Restart => {
                    let o = RestartContainerOptionsBuilder::default()
                        .t(secs_i32(timeout))
                        .build();
                    d.restart_container(key, Some(o)).await
                }
                ContainerAction::Kill => {
                    let o = KillContainerOptionsBuilder::default()
                        .signal(&signal.to_string())
                        .build();
                    d.kill_container(key, Some(o)).await
                }
                ContainerAction::Pause if !running || paused => {
                    return Err(Error::Conflict(format!(
                        "container {key} is not running (or is paused already)"
                    )));
                }
                ContainerAction::Pause => d.pause_container(key).await,
                ContainerAction::Unpause if !paused => {
                    return Err(Error::Conflict(format!("container {key} is not paused")));
                }
                ContainerAction::Unpause => d.unpause_container(key).await,
            };
            r.map_err(|e| engine_error(e, key))
        })
    }

    fn remove<'a>(&'a self, key: &'a str, force: bool) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let state = self.inspect(key).await?.state.unwrap_or_default();
            if state.running.unwrap_or(false) && !force {
                return Err(Error::Conflict(format!(
                    "container {key} is running: stop it first or delete with force=true"
                )));
            }
            let o = RemoveContainerOptionsBuilder::default()
                .force(force)
                .build();
            self.docker
                .remove_container(key, Some(o))
                .await
                .map_err(|e| engine_error(e, key))
        })
    }

    fn logs(
        &self,
        key: &str,
        tail: Option<usize>,
        since: Option<i64>,
        follow: bool,
    ) -> BoxStream<Result<LogLine>> {
        let mut o = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(follow)
            .tail(&tail.map(|t| t.to_string()).unwrap_or_else(|| "all".into()));
        if let Some(s) = since {
            o = o.since(i32::try_from(s).unwrap_or(if s < 0 { 0 } else { i32::MAX }));
        }
        let key2 = key.to_string();
        Box::pin(self.docker.logs(key, Some(o.build())).flat_map(move |r| {
            let lines: Vec<Result<LogLine>> = match r {
                Ok(out) => convert::log_lines(out).into_iter().map(Ok).collect(),
                Err(e) => vec![Err(engine_error(e, &key2))],
            };
            futures::stream::iter(lines)
        }))
    }

    fn exec<'a>(
        &'a self,
        key: &'a str,
        argv: Vec<String>,
        tty: bool,
    ) -> BoxFuture<'a, Result<ExecSession>> {
        Box::pin(async move {
            let state = self.inspect(key).await?.state.unwrap_or_default();
            if !state.running.unwrap_or(false) || state.paused.unwrap_or(false) {
                return Err(Error::Conflict(format!("container {key} is not running")));
            }
            let created = self
                .docker
                .create_exec(
                    key,
                    bollard::exec::CreateExecOptions {
                        attach_stdin: Some(true),
                        attach_stdout: Some(true),
                        attach_stderr: Some(true),
                        tty: Some(tty),
                        cmd: Some(argv),
                        env: tty.then(|| vec!["TERM=xterm".to_string()]),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| engine_error(e, key))?;
            let started = self
                .docker
                .start_exec(
                    &created.id,
                    Some(bollard::exec::StartExecOptions {
                        detach: false,
                        tty,
                        output_capacity: None,
                    }),
                )
                .await
                .map_err(|e| engine_error(e, key))?;
            let bollard::exec::StartExecResults::Attached { output, input } = started else {
                return Err(Error::Engine("the exec did not attach".into()));
            };
            let key2 = key.to_string();
            Ok(ExecSession {
                output: Box::pin(output.map(move |r| {
                    r.map(|o| o.into_bytes().to_vec())
                        .map_err(|e| engine_error(e, &key2))
                })),
                input,
                control: Arc::new(DockerExec {
                    docker: self.docker.clone(),
                    id: created.id,
                }),
            })
        })
    }

    fn stats<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<ContainerSample>> {
        Box::pin(async move {
            let o = StatsOptionsBuilder::default()
                .stream(false)
                .one_shot(false)
                .build();
            let mut s = self.docker.stats(key, Some(o));
            match s.next().await {
                Some(Ok(st)) => Ok(convert::sample(&st)),
                Some(Err(e)) => Err(engine_error(e, key)),
                None => Err(Error::Engine(format!("no stats for {key}"))),
            }
        })
    }

    fn resolve_id<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            self.inspect(key)
                .await?
                .id
                .ok_or_else(|| Error::Engine(format!("the engine named no id for {key}")))
        })
    }

    fn running(&self) -> BoxFuture<'_, Result<Vec<Running>>> {
        Box::pin(async move {
            let opts = ListContainersOptionsBuilder::default()
                .filters(&HashMap::from([("status", vec!["running"])]))
                .build();
            let summaries = self
                .docker
                .list_containers(Some(opts))
                .await
                .map_err(|e| engine_error(e, "list"))?;
            let known = self.pids.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let mut out = Vec::with_capacity(summaries.len());
            for s in summaries {
                let Some(id) = s.id else { continue };
                let name = s
                    .names
                    .as_ref()
                    .and_then(|n| n.first())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_else(|| id.chars().take(12).collect());
                let pid = match known.get(&id) {
                    Some(&pid) if std::path::Path::new(&format!("/proc/{pid}")).exists() => pid,
                    _ => {
                        // Gone between list and inspect, or not started yet.
                        let Ok(i) = self.inspect(&id).await else {
                            continue;
                        };
                        match i.state.and_then(|s| s.pid) {
                            Some(pid) if pid > 0 => match u32::try_from(pid) {
                                Ok(pid) => pid,
                                Err(_) => continue,
                            },
                            _ => continue,
                        }
                    }
                };
                out.push(Running { id, name, pid });
            }
            *self.pids.lock().unwrap_or_else(|e| e.into_inner()) =
                out.iter().map(|r| (r.id.clone(), r.pid)).collect();
            Ok(out)
        })
    }
}

/// A stop or restart timeout in Docker's whole seconds (`i32`).
fn secs_i32(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// Labels Berth sets on the containers it creates in Docker.
pub fn berth_labels() -> HashMap<String, String> {
    HashMap::from([(
        "org.berth.created-by".to_string(),
        "berth-agent".to_string(),
    )])
}
