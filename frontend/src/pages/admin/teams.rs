//! Teams and their members (owners only).

use berth_api::auth::{CreateTeam, Team, User};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::components::confirm::ConfirmButton;
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::toast::use_toasts;

#[component]
pub fn TeamsPage() -> impl IntoView {
    crate::pages::title("Teams");
    let toasts = use_toasts();
    let teams = LocalResource::new(api::teams);
    let users = LocalResource::new(api::users);
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);

    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let n = name.get().trim().to_string();
        if n.is_empty() {
            error.set(Some(ApiError::local("name: enter a team name")));
            return;
        }
        error.set(None);
        spawn_local(async move {
            match api::create_team(&CreateTeam { name: n.clone() }).await {
                Ok(_) => {
                    toasts.ok(format!("created team {n}"));
                    name.set(String::new());
                    teams.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let all_users = move || {
        users
            .get()
            .and_then(Result::ok)
            .map(|l| l.items)
            .unwrap_or_default()
    };

    view! {
        <section class="page">
            <h1>"Teams"</h1>
            <form class="card toolbar" on:submit=create data-testid="team-form">
                <div>
                    <label for="t-name">"Team name"</label>
                    <input id="t-name" bind:value=name/>
                </div>
                <button type="submit" class="primary">"Create team"</button>
            </form>
            <ProblemBanner error=error/>
            {move || match teams.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) if l.items.is_empty() => view! { <p class="empty">"No teams yet."</p> }.into_any(),
                Some(Ok(l)) => {
                    l.items
                        .into_iter()
                        .map(|t| view! { <TeamCard team=t users=all_users() on_change=move || teams.refetch()/> })
                        .collect_view()
                        .into_any()
                }
            }}
        </section>
    }
}

#[component]
fn TeamCard(
    team: Team,
    users: Vec<User>,
    on_change: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let toasts = use_toasts();
    let pick = RwSignal::new(String::new());
    let tid = team.id.clone();
    let tid2 = team.id.clone();
    let tid3 = team.id.clone();
    let add = move |ev: SubmitEvent| {
        ev.prevent_default();
        let u = pick.get();
        if u.is_empty() {
            toasts.error_text("choose a user to add");
            return;
        }
        let t = tid.clone();
        spawn_local(async move {
            match api::add_member(&t, &u).await {
                Ok(()) => on_change(),
                Err(e) => toasts.error(&e),
            }
        });
    };
    let members: Vec<String> = team.members.iter().map(|m| m.id.clone()).collect();
    let select_id = format!("add-{}", team.id);
    view! {
        <article class="card" data-testid="team-card" data-name=team.name.clone() style="margin-bottom:1rem">
            <header class="page-head">
                <h2>{team.name.clone()}</h2>
                <ConfirmButton
                    label="Delete team"
                    question="Delete this team?"
                    on_confirm=move || {
                        let t = tid2.clone();
                        spawn_local(async move {
                            match api::delete_team(&t).await {
                                Ok(()) => on_change(),
                                Err(e) => toasts.error(&e),
                            }
                        });
                    }
                />
            </header>
            <ul>
                {team
                    .members
                    .iter()
                    .map(|m| {
                        let (t, u) = (tid3.clone(), m.id.clone());
                        view! {
                            <li data-testid="team-member">
                                {m.username.clone()} " "
                                <button
                                    class="small"
                                    aria-label=format!("Remove {}", m.username)
                                    on:click=move |_| {
                                        let (t, u) = (t.clone(), u.clone());
                                        spawn_local(async move {
                                            match api::remove_member(&t, &u).await {
                                                Ok(()) => on_change(),
                                                Err(e) => toasts.error(&e),
                                            }
                                        });
                                    }
                                >
                                    "Remove"
                                </button>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
            <form class="toolbar" on:submit=add>
                <div>
                    <label for=select_id.clone()>"Add a member"</label>
                    <select id=select_id on:change=move |ev| pick.set(event_target_value(&ev))>
                        <option value="">"Choose a user"</option>
                        {users
                            .into_iter()
                            .filter(|u| !members.contains(&u.id))
                            .map(|u| view! { <option value=u.id.clone()>{u.username.clone()}</option> })
                            .collect_view()}
                    </select>
                </div>
                <button type="submit">"Add"</button>
            </form>
        </article>
    }
}
