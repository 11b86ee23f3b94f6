//! The agent's routes, declared once: each [`Endpoint`] has its method and
//! its path pattern (the agent's router serves exactly these), and an
//! [`AgentRequest`] is one call of an endpoint with its path parameters and
//! query filled in (what the server's client sends).

use super::query::QueryParams;
use crate::containers::ContainerAction;

/// The HTTP methods the agent's API uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

/// Declares the endpoints and [`Endpoint::ALL`] from one list, so no
/// endpoint can be left out of `ALL` (which the routers walk).
macro_rules! endpoints {
    ($($(#[doc = $doc:expr])* $name:ident,)*) => {
        /// Every route of the agent's API (docs/agent-protocol.md).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Endpoint {
            $($(#[doc = $doc])* $name,)*
        }

        impl Endpoint {
            /// Every endpoint, in declaration order.
            pub const ALL: &'static [Endpoint] = &[$(Endpoint::$name,)*];
        }
    };
}

endpoints! {
    /// `AgentInfo`; also the server's health check.
    Info,
    /// Forget the server: 204, then every request is refused.
    Leave,
    /// `ListQuery` → `Vec<Container>`.
    ListContainers,
    /// `CreateQuery`, `ContainerSpec` → 201 `CreatedContainer`.
    CreateContainer,
    /// `Container`.
    InspectContainer,
    /// `RemoveQuery` → 204.
    RemoveContainer,
    /// `ActionQuery` → `Container`.
    ContainerAction,
    /// `LogsQuery` → `Vec<LogLine>`, or SSE of `LogLine` when following.
    Logs,
    /// `WindowQuery` → `Vec<ContainerSample>`.
    Stats,
    /// SSE of `ContainerSample`, one a second.
    StatsStream,
    /// `Vec<ContainerNamespace>`.
    ContainerNamespaces,
    /// `ExecQuery`, WebSocket.
    Exec,
    /// `Vec<Image>`.
    ListImages,
    /// `StoreUsage`.
    ImageUsage,
    /// `PullRequest` → SSE of `PullProgress`.
    PullImage,
    /// A tar body, streamed → 201 `ImportResult`.
    ImportImage,
    /// 204; 409 while a container uses it.
    RemoveImage,
    /// `WindowQuery` → `Vec<HostSample>`.
    HostMetrics,
    /// SSE of `HostSample`.
    HostMetricsStream,
    /// `Vec<NamespaceEntry>`.
    Namespaces,
    /// `CgroupNode`.
    Cgroups,
    /// Prometheus text.
    Prometheus,
}

impl Endpoint {
    pub fn method(self) -> Method {
        use Endpoint as E;
        match self {
            E::Leave | E::CreateContainer | E::ContainerAction | E::PullImage | E::ImportImage => {
                Method::Post
            }
            E::RemoveContainer | E::RemoveImage => Method::Delete,
            _ => Method::Get,
        }
    }

    /// The path as the agent's router declares it (`{c}` and the like are
    /// path parameters, filled in by [`AgentRequest`] in this order).
    pub fn pattern(self) -> &'static str {
        use Endpoint as E;
        match self {
            E::Info => "/v1/info",
            E::Leave => "/v1/leave",
            E::ListContainers | E::CreateContainer => "/v1/containers",
            E::InspectContainer | E::RemoveContainer => "/v1/containers/{c}",
            E::ContainerAction => "/v1/containers/{c}/{action}",
            E::Logs => "/v1/containers/{c}/logs",
            E::Stats => "/v1/containers/{c}/stats",
            E::StatsStream => "/v1/containers/{c}/stats/stream",
            E::ContainerNamespaces => "/v1/containers/{c}/namespaces",
            E::Exec => "/v1/containers/{c}/exec",
            E::ListImages => "/v1/images",
            E::ImageUsage => "/v1/images/usage",
            E::PullImage => "/v1/images/pull",
            E::ImportImage => "/v1/images/import",
            E::RemoveImage => "/v1/images/{image}",
            E::HostMetrics => "/v1/metrics",
            E::HostMetricsStream => "/v1/metrics/stream",
            E::Namespaces => "/v1/namespaces",
            E::Cgroups => "/v1/cgroups",
            E::Prometheus => "/metrics",
        }
    }

    /// How many `{…}` parameters the pattern has.
    pub fn param_count(self) -> usize {
        self.pattern().matches('{').count()
    }
}

/// One call of an endpoint: the endpoint, its path parameters (raw; the
/// client percent-encodes each segment) and its query pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRequest {
    pub endpoint: Endpoint,
    params: Vec<String>,
    pub query: Vec<(&'static str, String)>,
}

impl AgentRequest {
    /// A call of an endpoint without path parameters or query.
    pub fn new(endpoint: Endpoint) -> Self {
        Self::with(endpoint, &[], &())
    }

    /// Panics unless `params` fills the pattern exactly: a mistake in this
    /// crate's constructors, which the tests below cover.
    fn with(endpoint: Endpoint, params: &[&str], query: &impl QueryParams) -> Self {
        assert_eq!(
            params.len(),
            endpoint.param_count(),
            "{endpoint:?} takes {} path parameters",
            endpoint.param_count()
        );
        AgentRequest {
            endpoint,
            params: params.iter().map(|s| s.to_string()).collect(),
            query: query.to_pairs(),
        }
    }

    pub fn method(&self) -> Method {
        self.endpoint.method()
    }

    /// The path's segments, parameters filled in, not yet percent-encoded.
    pub fn segments(&self) -> Vec<&str> {
        let mut params = self.params.iter();
        self.endpoint
            .pattern()
            .trim_start_matches('/')
            .split('/')
            .map(|seg| {
                if seg.starts_with('{') {
                    params.next().map(String::as_str).unwrap_or_default()
                } else {
                    seg
                }
            })
            .collect()
    }

    pub fn info() -> Self {
        Self::new(Endpoint::Info)
    }
    pub fn leave() -> Self {
        Self::new(Endpoint::Leave)
    }
    pub fn list_containers(q: &super::ListQuery) -> Self {
        Self::with(Endpoint::ListContainers, &[], q)
    }
    pub fn create_container(q: &super::CreateQuery) -> Self {
        Self::with(Endpoint::CreateContainer, &[], q)
    }
    pub fn inspect_container(c: &str) -> Self {
        Self::with(Endpoint::InspectContainer, &[c], &())
    }
    pub fn remove_container(c: &str, q: &super::RemoveQuery) -> Self {
        Self::with(Endpoint::RemoveContainer, &[c], q)
    }
    pub fn container_action(c: &str, action: ContainerAction, q: &super::ActionQuery) -> Self {
        Self::with(Endpoint::ContainerAction, &[c, action.as_str()], q)
    }
    pub fn logs(c: &str, q: &super::LogsQuery) -> Self {
        Self::with(Endpoint::Logs, &[c], q)
    }
    pub fn stats(c: &str, q: &super::WindowQuery) -> Self {
        Self::with(Endpoint::Stats, &[c], q)
    }
    pub fn stats_stream(c: &str) -> Self {
        Self::with(Endpoint::StatsStream, &[c], &())
    }
    pub fn container_namespaces(c: &str) -> Self {
        Self::with(Endpoint::ContainerNamespaces, &[c], &())
    }
    pub fn exec(c: &str, q: &super::ExecQuery) -> Self {
        Self::with(Endpoint::Exec, &[c], q)
    }
    pub fn list_images() -> Self {
        Self::new(Endpoint::ListImages)
    }
    pub fn image_usage() -> Self {
        Self::new(Endpoint::ImageUsage)
    }
    pub fn pull_image() -> Self {
        Self::new(Endpoint::PullImage)
    }
    pub fn import_image() -> Self {
        Self::new(Endpoint::ImportImage)
    }
    pub fn remove_image(image: &str) -> Self {
        Self::with(Endpoint::RemoveImage, &[image], &())
    }
    pub fn host_metrics(q: &super::WindowQuery) -> Self {
        Self::with(Endpoint::HostMetrics, &[], q)
    }
    pub fn host_metrics_stream() -> Self {
        Self::new(Endpoint::HostMetricsStream)
    }
    pub fn namespaces() -> Self {
        Self::new(Endpoint::Namespaces)
    }
    pub fn cgroups() -> Self {
        Self::new(Endpoint::Cgroups)
    }
    pub fn prometheus() -> Self {
        Self::new(Endpoint::Prometheus)
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;

    /// One request of every endpoint, through its constructor.
    fn one_of_each() -> Vec<AgentRequest> {
        vec![
            AgentRequest::info(),
            AgentRequest::leave(),
            AgentRequest::list_containers(&ListQuery::default()),
            AgentRequest::create_container(&CreateQuery::default()),
            AgentRequest::inspect_container("web"),
            AgentRequest::remove_container("web", &RemoveQuery::default()),
            AgentRequest::container_action("web", ContainerAction::Stop, &ActionQuery::default()),
            AgentRequest::logs("web", &LogsQuery::default()),
            AgentRequest::stats("web", &WindowQuery::default()),
            AgentRequest::stats_stream("web"),
            AgentRequest::container_namespaces("web"),
            AgentRequest::exec("web", &ExecQuery::default()),
            AgentRequest::list_images(),
            AgentRequest::image_usage(),
            AgentRequest::pull_image(),
            AgentRequest::import_image(),
            AgentRequest::remove_image("busybox"),
            AgentRequest::host_metrics(&WindowQuery::default()),
            AgentRequest::host_metrics_stream(),
            AgentRequest::namespaces(),
            AgentRequest::cgroups(),
            AgentRequest::prometheus(),
        ]
    }

    #[test]
    fn every_endpoint_has_a_constructor_that_fills_its_pattern() {
        let reqs = one_of_each();
        let endpoints: Vec<Endpoint> = reqs.iter().map(|r| r.endpoint).collect();
        assert_eq!(endpoints, Endpoint::ALL);
        for r in reqs {
            let path = format!("/{}", r.segments().join("/"));
            // Each `{x}` of the pattern became one non-empty segment.
            let pattern: Vec<&str> = r.endpoint.pattern().split('/').collect();
            let filled: Vec<&str> = path.split('/').collect();
            assert_eq!(pattern.len(), filled.len(), "{path}");
            for (p, f) in pattern.iter().zip(&filled) {
                if p.starts_with('{') {
                    assert!(!f.is_empty() && !f.contains('{'), "{path}");
                } else {
                    assert_eq!(p, f);
                }
            }
        }
    }

    #[test]
    fn method_and_pattern_pairs_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &e in Endpoint::ALL {
            assert!(seen.insert((e.method(), e.pattern())), "{e:?} twice");
        }
    }

    #[test]
    fn requests_carry_their_query() {
        let r = AgentRequest::container_action(
            "web",
            ContainerAction::Stop,
            &ActionQuery {
                timeout: Some(5),
                signal: None,
            },
        );
        assert_eq!(r.segments(), ["v1", "containers", "web", "stop"]);
        assert_eq!(r.query, [("timeout", "5".to_string())]);
        assert_eq!(r.method(), Method::Post);
    }
}
