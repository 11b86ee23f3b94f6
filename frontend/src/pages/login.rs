//! Login. After it, back to the page that sent you here (`?next=`).

use berth_api::auth::LoginRequest;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::NavigateOptions;
use leptos_router::components::A;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiError};
use crate::components::problem::ProblemBanner;
use crate::session::use_session;

/// Where to go after login: a path on this site, never another origin
/// (see [`berth_api::nav::safe_next`] for what is refused).
pub fn safe_next(next: Option<String>) -> String {
    berth_api::nav::safe_next(next.as_deref())
}

#[component]
pub fn LoginPage() -> impl IntoView {
    super::title("Log in");
    let session = use_session();
    let navigate = use_navigate();
    let query = use_query_map();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let next = move || safe_next(query.with(|q| q.get("next")));

    // Already signed in (a reload of /login): straight on.
    {
        let navigate = navigate.clone();
        Effect::new(move |_| {
            if session.me.with(Option::is_some) {
                navigate(
                    &next(),
                    NavigateOptions {
                        replace: true,
                        ..Default::default()
                    },
                );
            }
        });
    }

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (u, p) = (username.get(), password.get());
        if u.trim().is_empty() || p.is_empty() {
            error.set(Some(ApiError::local("enter your username and password")));
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let r = api::login(&LoginRequest {
                username: u.trim().to_string(),
                password: p,
            })
            .await;
            busy.set(false);
            match r {
                Ok(resp) => {
                    session.refresh_hosts();
                    session.me.set(Some(resp.user));
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <section class="card auth-card">
            <h1>"Log in to Berth"</h1>
            <ProblemBanner error=error/>
            <form on:submit=submit>
                <label for="login-username">"Username"</label>
                <input id="login-username" name="username" autocomplete="username" required bind:value=username/>
                <label for="login-password">"Password"</label>
                <input
                    id="login-password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    bind:value=password
                />
                <button type="submit" class="primary" disabled=busy>
                    {move || if busy.get() { "Logging in…" } else { "Log in" }}
                </button>
            </form>
            <p class="hint">"First start? " <A href="/setup">"Set up the owner account"</A></p>
        </section>
    }
}
