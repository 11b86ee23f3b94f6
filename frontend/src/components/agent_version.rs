//! A host's agent version, flagged when the server says the agent is older
//! than itself (`Host::agent_outdated`, computed by the server). The
//! server's version in the flag comes from `GET /api/v1/health`.

use leptos::prelude::*;

use crate::api;

/// The server's version, once `GET /api/v1/health` answered.
pub fn server_version() -> Signal<Option<String>> {
    let health = LocalResource::new(api::health);
    Signal::derive(move || health.get().and_then(Result::ok).map(|h| h.version))
}

/// The flag's text: "older than the server (0.2.0)".
pub fn outdated_text(server: Option<&str>) -> String {
    match server {
        Some(v) => format!("older than the server ({v})"),
        None => "older than the server".to_string(),
    }
}

/// The agent's version (`Host::agent_version`, "unknown" when it reported
/// none) and, when it is older than the server's (`Host::agent_outdated`),
/// a warning pill saying so.
#[component]
pub fn AgentVersion(
    version: Option<String>,
    outdated: bool,
    server: Signal<Option<String>>,
) -> impl IntoView {
    let text = move || server.with(|s| outdated_text(s.as_deref()));
    view! {
        <span data-testid="agent-version" data-outdated=outdated.to_string()>
            <span class="mono" data-testid="agent-version-number">
                {version.unwrap_or_else(|| "unknown".to_string())}
            </span>
            {outdated
                .then(|| {
                    view! {
                        " "
                        <span class="pill warn" data-testid="agent-outdated" title=text>
                            {text}
                        </span>
                    }
                })}
        </span>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_names_the_server_version() {
        assert_eq!(
            outdated_text(Some("0.2.0")),
            "older than the server (0.2.0)"
        );
        assert_eq!(outdated_text(None), "older than the server");
    }
}
