//! Role bindings: who (user or team) holds which role, and where (global,
//! a host group, or one host).

use berth_api::List;
use berth_api::auth::{CreateRoleBinding, Role, RoleBinding, Scope, Subject, Team, User};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError, ApiResult};
use crate::components::confirm::ConfirmButton;
use crate::components::host_picker::HostPicker;
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::toast::use_toasts;

pub fn scope_text(s: &Scope) -> String {
    match s {
        Scope::Global => "global".into(),
        Scope::Group(g) => format!("group {g}"),
        Scope::Host(h) => format!("host {h}"),
    }
}

/// The binding the form describes, or what is wrong with it: `kind` is
/// `user` or `team`, `scope_kind` `global`, `group` or `host`.
fn binding_request(
    kind: &str,
    subject: &str,
    role: &str,
    scope_kind: &str,
    scope_value: &str,
) -> Result<CreateRoleBinding, String> {
    let sub = subject.trim().to_string();
    if sub.is_empty() {
        return Err("subject: choose a user or team".into());
    }
    let subject = if kind == "team" {
        Subject::Team(sub)
    } else {
        Subject::User(sub)
    };
    let role: Role = role.parse()?;
    let v = scope_value.trim().to_string();
    let scope = match scope_kind {
        "group" | "host" if v.is_empty() => return Err("scope: name the group or host".into()),
        "group" => Scope::Group(v),
        "host" => Scope::Host(v),
        _ => Scope::Global,
    };
    Ok(CreateRoleBinding {
        subject,
        role,
        scope,
    })
}

/// The bindings, each with Revoke; `subject_name` names their subject.
#[component]
fn RolesTable(
    items: Vec<RoleBinding>,
    subject_name: impl Fn(&Subject) -> String + Copy + Send + Sync + 'static,
    delete: impl Fn(RoleBinding) + Copy + Send + Sync + 'static,
) -> impl IntoView {
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
                    {items
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
}

/// How a binding's subject reads: `user alice`, `team ops`, or the id
/// when the lists are not readable.
fn subject_name(
    users: LocalResource<ApiResult<List<User>>>,
    teams: LocalResource<ApiResult<List<Team>>>,
    s: &Subject,
) -> String {
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
}

/// The subject picker: a select of users or teams, or an id field when
/// the lists are not readable (an admin who is not an owner).
#[component]
fn SubjectField(
    kind: RwSignal<String>,
    subject: RwSignal<String>,
    users: LocalResource<ApiResult<List<User>>>,
    teams: LocalResource<ApiResult<List<Team>>>,
) -> impl IntoView {
    view! {
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
    }
}

/// The host or group a scoped binding names.
#[component]
fn ScopeValue(scope_kind: RwSignal<String>, scope_value: RwSignal<String>) -> impl IntoView {
    view! {
        <Show when=move || scope_kind.get() == "host">
            <div>
                <label for="rb-host">"Host"</label>
                <HostPicker id="rb-host" any="Choose" selected=scope_value on_pick=move |h| scope_value.set(h)/>
            </div>
        </Show>
        <Show when=move || scope_kind.get() == "group">
            <div>
                <label for="rb-group">"Group"</label>
                <input id="rb-group" bind:value=scope_value placeholder="prod"/>
            </div>
        </Show>
    }
}

#[component]
pub fn RolesPage() -> impl IntoView {
    crate::pages::title("Role bindings");
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

    let subject_name = move |s: &Subject| subject_name(users, teams, s);

    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let req = match binding_request(
            &kind.get(),
            &subject.get(),
            &role.get(),
            &scope_kind.get(),
            &scope_value.get(),
        ) {
            Ok(r) => r,
            Err(e) => {
                error.set(Some(ApiError::local(e)));
                return;
            }
        };
        error.set(None);
        spawn_local(async move {
            match api::create_role_binding(&req).await {
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
                <SubjectField kind=kind subject=subject users=users teams=teams/>
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
                <ScopeValue scope_kind=scope_kind scope_value=scope_value/>
                <button type="submit" class="primary">"Grant"</button>
            </form>
            <ProblemBanner error=error/>
            {move || match bindings.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) => {
                    view! { <RolesTable items=l.items subject_name=subject_name delete=delete/> }.into_any()
                }
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_needs_a_subject_a_role_and_a_named_scope() {
        let b = binding_request("team", " t1 ", "admin", "host", "h1").unwrap();
        assert_eq!(b.subject, Subject::Team("t1".into()));
        assert_eq!(b.role, Role::Admin);
        assert_eq!(b.scope, Scope::Host("h1".into()));
        let b = binding_request("user", "u1", "viewer", "global", "ignored").unwrap();
        assert_eq!(b.scope, Scope::Global);
        assert!(binding_request("user", " ", "viewer", "global", "").is_err());
        assert!(binding_request("user", "u1", "king", "global", "").is_err());
        assert_eq!(
            binding_request("user", "u1", "viewer", "group", " ").unwrap_err(),
            "scope: name the group or host"
        );
    }
}
