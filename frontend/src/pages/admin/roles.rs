//! Role bindings: who (user or team) holds which role, and where (global,
//! a host group, or one host).

use berth_api::auth::{CreateRoleBinding, Role, RoleBinding, Scope, Subject};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::app::use_session;
use crate::components::confirm::ConfirmButton;
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::toast::use_toasts;

pub fn scope_text(s: &Scope) -> String {
    match s {
        Scope::Global => "global".into(),
        Scope::Group(g) => format!("group {g}"),
        Scope::Host(h) => format!("host {h}"),
    }
}

#[component]
pub fn RolesPage() -> impl IntoView {
    crate::pages::title("Role bindings");
    let session = use_session();
    let toasts = use_toasts();
    let bindings = LocalResource::new(api::role_bindings);
    // Users and teams are owner-only lists; an admin sees ids instead.
    let users = LocalResource::new(api::users);
    let teams = LocalResource::new(api::teams);
    let kind = RwSignal::new(String::from("user"));
    let subject = RwSignal::new(String::new());
    let role = RwSignal::new(String::from("viewer"));
    let scope_kind = RwSignal::new(String::from("global"));
    let scope_value = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);

    let subject_name = move |s: &Subject| -> String {
        match s {
            Subject::User(id) => users
                .get()
                .and_then(Result::ok)
                .and_then(|l| {
                    l.items
                        .into_iter()
                        .find(|u| &u.id == id)
                        .map(|u| format!("user {}", u.username))
                })
                .unwrap_or_else(|| format!("user {id}")),
            Subject::Team(id) => teams
                .get()
                .and_then(Result::ok)
                .and_then(|l| {
                    l.items
                        .into_iter()
                        .find(|t| &t.id == id)
                        .map(|t| format!("team {}", t.name))
                })
                .unwrap_or_else(|| format!("team {id}")),
        }
    };

    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let sub = subject.get().trim().to_string();
        if sub.is_empty() {
            error.set(Some(ApiError::local("subject: choose a user or team")));
            return;
        }
        let subject = if kind.get() == "team" {
            Subject::Team(sub)
        } else {
            Subject::User(sub)
        };
        let role: Role = match role.get().parse() {
            Ok(r) => r,
            Err(e) => {
                error.set(Some(ApiError::local(e)));
                return;
            }
        };
        let v = scope_value.get().trim().to_string();
        let scope = match scope_kind.get().as_str() {
            "group" | "host" if v.is_empty() => {
                error.set(Some(ApiError::local("scope: name the group or host")));
                return;
            }
            "group" => Scope::Group(v),
            "host" => Scope::Host(v),
            _ => Scope::Global,
        };
        error.set(None);
        spawn_local(async move {
            match api::create_role_binding(&CreateRoleBinding {
                subject,
                role,
                scope,
            })
            .await
            {
                Ok(_) => {
                    toasts.ok("role granted");
                    bindings.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let delete = move |b: RoleBinding| {
        spawn_local(async move {
            match api::delete_role_binding(&b.id).await {
                Ok(()) => {
                    toasts.ok("role binding removed");
                    bindings.refetch();
                }
                Err(e) => toasts.error(&e),
            }
        });
    };

    view! {
        <section class="page">
            <h1>"Role bindings"</h1>
            <p class="hint">
                "A user's right on a host is the highest role of every binding (their own and their teams') whose scope covers the host."
            </p>
            <form class="card toolbar" on:submit=create data-testid="role-form">
                <div>
                    <label for="rb-kind">"Subject"</label>
                    <select id="rb-kind" on:change=move |ev| { kind.set(event_target_value(&ev)); subject.set(String::new()); }>
                        <option value="user">"user"</option>
                        <option value="team">"team"</option>
                    </select>
                </div>
                <div>
                    <label for="rb-subject">{move || if kind.get() == "team" { "Team" } else { "User" }}</label>
                    {move || {
                        let options: Vec<(String, String)> = if kind.get() == "team" {
                            teams.get().and_then(Result::ok).map(|l| l.items.into_iter().map(|t| (t.id, t.name)).collect()).unwrap_or_default()
                        } else {
                            users.get().and_then(Result::ok).map(|l| l.items.into_iter().map(|u| (u.id, u.username)).collect()).unwrap_or_default()
                        };
                        if options.is_empty() {
                            view! { <input id="rb-subject" placeholder="id" bind:value=subject/> }.into_any()
                        } else {
                            view! {
                                <select id="rb-subject" on:change=move |ev| subject.set(event_target_value(&ev))>
                                    <option value="">"Choose"</option>
                                    {options.into_iter().map(|(id, n)| view! { <option value=id>{n}</option> }).collect_view()}
                                </select>
                            }
                                .into_any()
                        }
                    }}
                </div>
                <div>
                    <label for="rb-role">"Role"</label>
                    <select id="rb-role" on:change=move |ev| role.set(event_target_value(&ev))>
                        {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="rb-scope">"Scope"</label>
                    <select id="rb-scope" on:change=move |ev| scope_kind.set(event_target_value(&ev))>
                        <option value="global">"global"</option>
                        <option value="group">"host group"</option>
                        <option value="host">"one host"</option>
                    </select>
                </div>
                <Show when=move || scope_kind.get() == "host">
                    <div>
                        <label for="rb-host">"Host"</label>
                        <select id="rb-host" on:change=move |ev| scope_value.set(event_target_value(&ev))>
                            <option value="">"Choose"</option>
                            {move || session.hosts.get().into_iter().map(|h| view! { <option value=h.id.clone()>{h.name.clone()}</option> }).collect_view()}
                        </select>
                    </div>
                </Show>
                <Show when=move || scope_kind.get() == "group">
                    <div>
                        <label for="rb-group">"Group"</label>
                        <input id="rb-group" bind:value=scope_value placeholder="prod"/>
                    </div>
                </Show>
                <button type="submit" class="primary">"Grant"</button>
            </form>
            <ProblemBanner error=error/>
            {move || match bindings.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) => {
                    view! {
                        <div class="table-wrap">
                            <table class="data" data-testid="roles-table">
                                <thead>
                                    <tr>
                                        <th scope="col">"Subject"</th>
                                        <th scope="col">"Role"</th>
                                        <th scope="col">"Scope"</th>
                                        <th scope="col">"Actions"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {l
                                        .items
                                        .into_iter()
                                        .map(|b| {
                                            let b2 = b.clone();
                                            view! {
                                                <tr data-testid="role-row">
                                                    <td>{subject_name(&b.subject)}</td>
                                                    <td><span class="badge">{b.role.as_str()}</span></td>
                                                    <td>{scope_text(&b.scope)}</td>
                                                    <td>
                                                        <ConfirmButton
                                                            label="Revoke"
                                                            question="Revoke this role?"
                                                            on_confirm=move || delete(b2.clone())
                                                        />
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}
