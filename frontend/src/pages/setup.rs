//! First-run setup: the one-time setup token from the server's log (or
//! `<data dir>/setup-token`), then the owner's name and password.

use berth_api::auth::{LoginRequest, MIN_PASSWORD_LEN, SetupRequest};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::{self, ApiError};
use crate::components::problem::ProblemBanner;
use crate::session::use_session;

/// Checks the form before it is sent.
pub fn validate(token: &str, username: &str, password: &str, again: &str) -> Result<(), String> {
    if token.trim().is_empty() {
        return Err("enter the setup token from the server's log or <data dir>/setup-token".into());
    }
    if username.trim().is_empty() {
        return Err("choose a username".into());
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(format!(
            "the password needs at least {MIN_PASSWORD_LEN} characters"
        ));
    }
    if password != again {
        return Err("the two passwords differ".into());
    }
    Ok(())
}

#[component]
pub fn SetupPage() -> impl IntoView {
    super::title("Set up");
    let session = use_session();
    let navigate = use_navigate();
    let token = RwSignal::new(String::new());
    let username = RwSignal::new(String::from("admin"));
    let password = RwSignal::new(String::new());
    let again = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let (t, u, p, a) = (token.get(), username.get(), password.get(), again.get());
        if let Err(e) = validate(&t, &u, &p, &a) {
            error.set(Some(ApiError::local(e)));
            return;
        }
        error.set(None);
        busy.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            let req = SetupRequest {
                setup_token: t.trim().to_string(),
                username: u.trim().to_string(),
                password: p.clone(),
            };
            let result = match api::setup(&req).await {
                Ok(_) => {
                    api::login(&LoginRequest {
                        username: u.trim().to_string(),
                        password: p,
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            busy.set(false);
            match result {
                Ok(resp) => {
                    session.me.set(Some(resp.user));
                    session.refresh_hosts();
                    navigate("/", Default::default());
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };

    view! {
        <section class="card auth-card">
            <h1>"Set up Berth"</h1>
            <p class="hint">
                "At its first start the server printed a one-time setup token on its terminal "
                "(never in its log) and wrote it to " <code>"<data dir>/setup-token"</code>
                ". Enter it to create the owner account."
            </p>
            <ProblemBanner error=error/>
            <form on:submit=submit>
                <label for="setup-token">"Setup token"</label>
                <input id="setup-token" name="setup_token" autocomplete="off" required bind:value=token/>
                <label for="setup-username">"Owner username"</label>
                <input id="setup-username" name="username" autocomplete="username" required bind:value=username/>
                <label for="setup-password">"Password"</label>
                <input
                    id="setup-password"
                    name="password"
                    type="password"
                    autocomplete="new-password"
                    minlength=MIN_PASSWORD_LEN
                    required
                    bind:value=password
                />
                <span class="hint">{format!("At least {MIN_PASSWORD_LEN} characters.")}</span>
                <label for="setup-again">"Password again"</label>
                <input
                    id="setup-again"
                    name="password_again"
                    type="password"
                    autocomplete="new-password"
                    required
                    bind:value=again
                />
                <button type="submit" class="primary" disabled=busy>
                    {move || if busy.get() { "Creating…" } else { "Create owner" }}
                </button>
            </form>
            <p class="hint"><A href="/login">"Already set up? Log in"</A></p>
        </section>
    }
}
