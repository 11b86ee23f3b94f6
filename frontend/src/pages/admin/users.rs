//! Users (owners only): create, disable or enable, reset a password, delete.
//! One's own password needs the current one too (the server refuses it
//! otherwise), so one's own row has a second field for it.

use berth_api::auth::{CreateUser, MIN_PASSWORD_LEN, PatchUser, User};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::components::confirm::ConfirmButton;
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::toast::use_toasts;
use crate::format;

/// What the table's rows call: `patch(user, change, what it did)`.
trait Patch: Fn(User, PatchUser, &'static str) + Copy + Send + Sync + 'static {}
impl<F: Fn(User, PatchUser, &'static str) + Copy + Send + Sync + 'static> Patch for F {}

/// One user's row: enable or disable, set a password (one's own needs the
/// current one too), delete.
#[component]
fn UserRow(
    u: User,
    is_me: bool,
    patch: impl Patch,
    delete: impl Fn(User) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let toasts = use_toasts();
    let (u1, u2, u3) = (u.clone(), u.clone(), u.clone());
    let new_pw = RwSignal::new(String::new());
    let current_pw = RwSignal::new(String::new());
    let pw_id = format!("pw-{}", u.id);
    let current_id = format!("pw-current-{}", u.id);
    view! {
        <tr data-testid="user-row" data-name=u.username.clone()>
            <td>{u.username.clone()}</td>
            <td>
                {if u.disabled {
                    view! { <span class="pill bad">"disabled"</span> }.into_any()
                } else {
                    view! { <span class="pill ok">"active"</span> }.into_any()
                }}
            </td>
            <td>{format::time(u.created_at)}</td>
            <td class="actions-cell">
                <button on:click=move |_| {
                    let disable = !u1.disabled;
                    patch(
                        u1.clone(),
                        PatchUser { disabled: Some(disable), ..Default::default() },
                        if disable { "disabled" } else { "enabled" },
                    )
                }>{if u.disabled { "Enable" } else { "Disable" }}</button>
                <label class="visually-hidden" for=pw_id.clone()>
                    {format!("New password for {}", u.username)}
                </label>
                {is_me
                    .then(|| {
                        view! {
                            <label class="visually-hidden" for=current_id.clone()>
                                "Your current password"
                            </label>
                            <input
                                id=current_id.clone()
                                data-testid="current-password"
                                type="password"
                                placeholder="current password"
                                autocomplete="current-password"
                                style="max-width:11rem"
                                bind:value=current_pw
                            />
                        }
                    })}
                <input
                    id=pw_id
                    type="password"
                    placeholder="new password"
                    autocomplete="new-password"
                    style="max-width:11rem"
                    bind:value=new_pw
                />
                <button on:click=move |_| {
                    let p = new_pw.get();
                    if p.chars().count() < MIN_PASSWORD_LEN {
                        toasts.error_text(format!("password: at least {MIN_PASSWORD_LEN} characters"));
                        return;
                    }
                    let current = is_me.then(|| current_pw.get());
                    if current.as_ref().is_some_and(String::is_empty) {
                        toasts.error_text("your own password needs your current password too".to_string());
                        return;
                    }
                    new_pw.set(String::new());
                    current_pw.set(String::new());
                    patch(
                        u2.clone(),
                        PatchUser { password: Some(p), current_password: current, ..Default::default() },
                        "password set",
                    )
                }>"Set password"</button>
                <ConfirmButton
                    label="Delete"
                    question="Delete this user?"
                    on_confirm=move || delete(u3.clone())
                />
            </td>
        </tr>
    }
}

/// Every user, one row each.
#[component]
fn UsersTable(
    items: Vec<User>,
    patch: impl Patch,
    delete: impl Fn(User) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let session = crate::session::use_session();
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="users-table">
                <thead>
                    <tr>
                        <th scope="col">"Username"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {items
                        .into_iter()
                        .map(|u| {
                            let is_me = session.me.get_untracked().is_some_and(|m| m.id == u.id);
                            view! { <UserRow u=u is_me=is_me patch=patch delete=delete/> }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    crate::pages::title("Users");
    let toasts = use_toasts();
    let users = LocalResource::new(api::users);
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);

    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (u, p) = (username.get().trim().to_string(), password.get());
        if u.is_empty() {
            error.set(Some(ApiError::local("username: enter a name")));
            return;
        }
        if p.chars().count() < MIN_PASSWORD_LEN {
            error.set(Some(ApiError::local(format!(
                "password: at least {MIN_PASSWORD_LEN} characters"
            ))));
            return;
        }
        error.set(None);
        spawn_local(async move {
            match api::create_user(&CreateUser {
                username: u.clone(),
                password: p,
            })
            .await
            {
                Ok(_) => {
                    toasts.ok(format!("created user {u}"));
                    username.set(String::new());
                    password.set(String::new());
                    users.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let patch = move |u: User, req: PatchUser, what: &'static str| {
        spawn_local(async move {
            match api::patch_user(&u.id, &req).await {
                Ok(_) => {
                    toasts.ok(format!("{}: {what}", u.username));
                    users.refetch();
                }
                Err(e) => toasts.error(&e),
            }
        });
    };
    let delete = move |u: User| {
        spawn_local(async move {
            match api::delete_user(&u.id).await {
                Ok(()) => {
                    toasts.ok(format!("deleted {}", u.username));
                    users.refetch();
                }
                Err(e) => toasts.error(&e),
            }
        });
    };

    view! {
        <section class="page">
            <h1>"Users"</h1>
            <form class="card toolbar" on:submit=create data-testid="user-form">
                <div>
                    <label for="u-name">"Username"</label>
                    <input id="u-name" autocomplete="off" bind:value=username/>
                </div>
                <div>
                    <label for="u-pass">"Password"</label>
                    <input id="u-pass" type="password" autocomplete="new-password" bind:value=password/>
                </div>
                <button type="submit" class="primary">"Create user"</button>
            </form>
            <ProblemBanner error=error/>
            {move || match users.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) => {
                    view! { <UsersTable items=l.items patch=patch delete=delete/> }.into_any()
                }
            }}
        </section>
    }
}
