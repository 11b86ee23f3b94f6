//! The create form with the whole container spec, checked before it is
//! sent ([`SpecForm::to_spec`]); optionally pulls the image first when the
//! host lacks it, with the pull's progress on the page.

use berth_api::images::PullRequest;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiError};
use crate::app::use_session;
use crate::components::problem::ProblemBanner;
use crate::components::pull::{self, PullState, PullView};
use crate::components::toast::use_toasts;
use crate::rbac::need;
use crate::spec_form::SpecForm;
use crate::stream::StreamHandle;

/// A text input bound to one field of the form.
#[component]
fn Field(
    id: &'static str,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional, into)] hint: String,
    #[prop(optional)] multiline: bool,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let has_hint = !hint.is_empty();
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {if multiline {
                view! {
                    <textarea
                        id=id
                        name=id
                        placeholder=placeholder
                        aria-describedby=has_hint.then(|| hint_id.clone())
                        prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev))
                    ></textarea>
                }
                    .into_any()
            } else {
                view! {
                    <input
                        id=id
                        name=id
                        placeholder=placeholder
                        aria-describedby=has_hint.then(|| hint_id.clone())
                        bind:value=value
                    />
                }
                    .into_any()
            }}
            {has_hint.then(|| view! { <p class="hint" id=hint_id.clone()>{hint.clone()}</p> })}
        </div>
    }
}

#[component]
pub fn CreatePage() -> impl IntoView {
    super::title("Create container");
    let session = use_session();
    let toasts = use_toasts();
    let navigate = use_navigate();
    let query = use_query_map();

    let host = RwSignal::new(query.with_untracked(|q| q.get("host").unwrap_or_default()));
    // Default to the first host the user may deploy on.
    Effect::new(move |_| {
        if host.with(String::is_empty)
            && let Some(h) = session
                .hosts
                .get()
                .into_iter()
                .find(|h| session.may(&h.id, need::DEPLOY))
        {
            host.set(h.id);
        }
    });

    let name = RwSignal::new(String::new());
    let image = RwSignal::new(query.with_untracked(|q| q.get("image").unwrap_or_default()));
    let cmd = RwSignal::new(String::new());
    let env = RwSignal::new(String::new());
    let workdir = RwSignal::new(String::new());
    let user = RwSignal::new(String::new());
    let hostname = RwSignal::new(String::new());
    let memory = RwSignal::new(String::new());
    let cpus = RwSignal::new(String::new());
    let pids = RwSignal::new(String::new());
    let ports = RwSignal::new(String::new());
    let mounts = RwSignal::new(String::new());
    let network = RwSignal::new(String::new());
    let restart = RwSignal::new(String::from("no"));
    let labels = RwSignal::new(String::new());
    let runtime = RwSignal::new(String::from("berth"));
    let start_now = RwSignal::new(true);
    let pull_missing = RwSignal::new(true);
    let insecure = RwSignal::new(false);

    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let pull_state = RwSignal::new(PullState::default());
    let pull_handle = StoredValue::new_local(None::<StreamHandle>);

    let host_runtimes = move || {
        let h = host.get();
        session.hosts.with(|hs| {
            hs.iter()
                .find(|x| x.id == h)
                .map(|x| x.runtimes.clone())
                .unwrap_or_default()
        })
    };
    let may_mount = move || session.may(&host.get(), need::ADMIN);

    let form = move || SpecForm {
        name: name.get(),
        image: image.get(),
        cmd: cmd.get(),
        env: env.get(),
        workdir: workdir.get(),
        user: user.get(),
        hostname: hostname.get(),
        memory: memory.get(),
        cpus: cpus.get(),
        pids: pids.get(),
        ports: ports.get(),
        mounts: mounts.get(),
        network: network.get(),
        restart: restart.get(),
        labels: labels.get(),
        runtime: runtime.get(),
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let h = host.get();
        if h.is_empty() {
            error.set(Some(ApiError::local("host: choose the host to run it on")));
            return;
        }
        let spec = match form().to_spec() {
            Ok(s) => s,
            Err(e) => {
                error.set(Some(ApiError::local(e)));
                return;
            }
        };
        if !spec.mounts.is_empty() && !may_mount() {
            error.set(Some(ApiError::local(
                "mounts: host bind mounts need the admin role on this host",
            )));
            return;
        }
        if spec
            .network
            .as_ref()
            .is_some_and(|n| n.to_string() == "host")
            && !may_mount()
        {
            error.set(Some(ApiError::local(
                "network: the host's network needs the admin role on this host",
            )));
            return;
        }
        error.set(None);
        busy.set(true);
        let start = start_now.get();
        let pull_first = pull_missing.get();
        let insecure = insecure.get();
        let navigate = navigate.clone();
        spawn_local(async move {
            if pull_first {
                // A reference the agent would refuse is left as typed: the
                // pull or create answers with what is wrong with it.
                let wanted = berth_api::image_ref::normalise(&spec.image)
                    .unwrap_or_else(|_| spec.image.trim().to_string());
                let have = match api::images(&h).await {
                    Ok(l) => l.items.iter().any(|i| {
                        i.references
                            .iter()
                            .any(|r| *r == wanted || *r == spec.image)
                            || i.id == spec.image
                    }),
                    Err(e) => {
                        busy.set(false);
                        error.set(Some(e));
                        return;
                    }
                };
                if !have {
                    let req = PullRequest {
                        reference: spec.image.clone(),
                        auth: None,
                        insecure,
                        allow_internal_registries: false,
                    };
                    let handle = pull::start(&h, &req, pull_state);
                    pull_handle.set_value(Some(handle));
                    // The stream updates `pull_state`; wait until it ends.
                    while !pull_state.with_untracked(PullState::finished) {
                        gloo_timers::future::TimeoutFuture::new(200).await;
                    }
                    if let Some(e) = pull_state.with_untracked(|s| s.error.clone()) {
                        busy.set(false);
                        error.set(Some(e));
                        return;
                    }
                }
            }
            match api::create_container(&h, &spec, start).await {
                Ok(created) => {
                    toasts.ok(format!("created {}", created.name));
                    navigate(
                        &format!(
                            "/hosts/{}/containers/{}",
                            api::enc(&h),
                            api::enc(&created.name)
                        ),
                        Default::default(),
                    );
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Create a container"</h1>
            </header>
            <form on:submit=submit novalidate data-testid="create-form">
                <div class="form-grid">
                    <div class="field">
                        <label for="c-host">"Host"</label>
                        <select id="c-host" on:change=move |ev| host.set(event_target_value(&ev))>
                            {move || {
                                session
                                    .hosts
                                    .get()
                                    .into_iter()
                                    .filter(|h| session.may(&h.id, need::DEPLOY))
                                    .map(|h| {
                                        let sel = host.get() == h.id;
                                        view! { <option value=h.id.clone() selected=sel>{h.name.clone()}</option> }
                                    })
                                    .collect_view()
                            }}
                        </select>
                    </div>
                    <Field id="c-image" label="Image" value=image placeholder="busybox:latest"/>
                    <Field id="c-name" label="Name (optional)" value=name placeholder="web-1"/>
                    <Field
                        id="c-cmd"
                        label="Command"
                        value=cmd
                        placeholder="sleep 600"
                        hint="Replaces the image's command; quotes group words as in a shell."
                    />
                    <Field id="c-memory" label="Memory limit" value=memory placeholder="64m" hint="Bytes, or with k, m, g."/>
                    <Field id="c-pids" label="Pids limit" value=pids placeholder="64"/>
                    <Field id="c-cpus" label="CPU limit (cores)" value=cpus placeholder="0.5"/>
                    <div class="field">
                        <label for="c-restart">"Restart policy"</label>
                        <select id="c-restart" on:change=move |ev| restart.set(event_target_value(&ev))>
                            <option value="no">"no"</option>
                            <option value="on-failure">"on-failure"</option>
                            <option value="on-failure:3">"on-failure:3"</option>
                            <option value="always">"always"</option>
                            <option value="unless-stopped">"unless-stopped"</option>
                        </select>
                    </div>
                    <div class="field">
                        <label for="c-network">"Network"</label>
                        <select id="c-network" on:change=move |ev| network.set(event_target_value(&ev))>
                            <option value="">"the host's default"</option>
                            <option value="bridge">"bridge"</option>
                            {move || {
                                may_mount()
                                    .then(|| view! { <option value="host">"host (admins)"</option> })
                            }}
                            <option value="none">"none"</option>
                        </select>
                    </div>
                    <div class="field">
                        <label for="c-runtime">"Runtime"</label>
                        <select id="c-runtime" on:change=move |ev| runtime.set(event_target_value(&ev))>
                            <option value="berth">"berth"</option>
                            {move || {
                                host_runtimes()
                                    .contains(&"docker".to_string())
                                    .then(|| view! { <option value="docker">"docker"</option> })
                            }}
                        </select>
                    </div>
                    <Field id="c-workdir" label="Working directory" value=workdir placeholder="/"/>
                    <Field id="c-user" label="User" value=user placeholder="uid[:gid] or name"/>
                    <Field id="c-hostname" label="Hostname" value=hostname/>
                    <Field id="c-env" label="Environment" value=env multiline=true placeholder="KEY=value" hint="One KEY=value per line."/>
                    <Field id="c-labels" label="Labels" value=labels multiline=true placeholder="app=web" hint="One key=value per line."/>
                    <Field
                        id="c-ports"
                        label="Published ports"
                        value=ports
                        multiline=true
                        placeholder="8080:80"
                        hint="HOST:CONTAINER[/udp], one per line."
                    />
                    <Show when=may_mount>
                        <Field
                            id="c-mounts"
                            label="Bind mounts (admin)"
                            value=mounts
                            multiline=true
                            placeholder="/srv/data:/data:ro"
                            hint="/host/path:/container/path[:ro], one per line."
                        />
                    </Show>
                </div>
                <div class="actions">
                    <label class="inline">
                        <input type="checkbox" bind:checked=start_now/>
                        "Start it now"
                    </label>
                    <label class="inline">
                        <input type="checkbox" bind:checked=pull_missing/>
                        "Pull the image if the host lacks it"
                    </label>
                    <label class="inline">
                        <input type="checkbox" bind:checked=insecure/>
                        "Registry over plain HTTP"
                    </label>
                </div>
                <ProblemBanner error=error/>
                <PullView state=pull_state/>
                <div class="actions">
                    <button type="submit" class="primary" disabled=busy data-testid="create-submit">
                        {move || if busy.get() { "Creating…" } else { "Create" }}
                    </button>
                </div>
            </form>
        </section>
    }
}
