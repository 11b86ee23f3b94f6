//! The app: the router with the stable URLs of docs/api.md
//! ("Dashboard routes"), the page frame (navigation, theme, toasts) and the
//! guard that sends a visitor without a session to the login page, keeping
//! the page they asked for in `?next=`.

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::{NavigateOptions, path};

use crate::api::{self, ApiError};
use crate::components::toast::{ToastView, Toasts};
use crate::pages;
use crate::rbac;
use crate::session::{Session, use_session};

/// Pages anyone may open.
fn is_public(path: &str) -> bool {
    matches!(path, "/login" | "/setup")
}

const THEME_KEY: &str = "berth-theme";

fn stored_theme() -> Option<String> {
    let storage = window().local_storage().ok().flatten()?;
    storage.get_item(THEME_KEY).ok().flatten()
}

fn apply_theme(theme: &str) {
    if let Some(root) = document().document_element() {
        let _ = root.set_attribute("data-theme", theme);
    }
}

fn prefers_dark() -> bool {
    window()
        .match_media("(prefers-color-scheme: dark)")
        .ok()
        .flatten()
        .is_some_and(|m| m.matches())
}

#[component]
pub fn App() -> impl IntoView {
    let session = Session {
        me: RwSignal::new(None),
        checked: RwSignal::new(false),
        hosts: RwSignal::new(Vec::new()),
    };
    provide_context(session);
    provide_context(Toasts::new());

    let theme = RwSignal::new(
        stored_theme().unwrap_or_else(|| if prefers_dark() { "dark" } else { "light" }.to_string()),
    );
    Effect::new(move |_| apply_theme(&theme.get()));
    provide_context(theme);

    api::on_unauthorized(move |_e: &ApiError| {
        session.me.set(None);
    });

    spawn_local(async move {
        match api::me().await {
            Ok(me) => {
                session.me.set(Some(me));
                session.refresh_hosts();
            }
            Err(_) => session.me.set(None),
        }
        session.checked.set(true);
    });

    view! {
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Frame>
                <Routes fallback=|| view! { <pages::not_found::NotFound/> }>
                    <Route path=path!("/setup") view=pages::setup::SetupPage/>
                    <Route path=path!("/login") view=pages::login::LoginPage/>
                    <Route path=path!("/") view=pages::overview::OverviewPage/>
                    <Route path=path!("/hosts") view=pages::hosts::HostsPage/>
                    <Route path=path!("/hosts/:host") view=pages::host::HostPage/>
                    <Route path=path!("/hosts/:host/images") view=pages::images::ImagesPage/>
                    <Route
                        path=path!("/hosts/:host/containers/:c")
                        view=pages::container::ContainerPage
                    />
                    <Route path=path!("/containers") view=pages::containers::ContainersPage/>
                    <Route path=path!("/containers/new") view=pages::create::CreatePage/>
                    <Route path=path!("/admin/users") view=pages::admin::users::UsersPage/>
                    <Route path=path!("/admin/teams") view=pages::admin::teams::TeamsPage/>
                    <Route path=path!("/admin/roles") view=pages::admin::roles::RolesPage/>
                    <Route path=path!("/admin/tokens") view=pages::admin::tokens::TokensPage/>
                    <Route path=path!("/admin/audit") view=pages::admin::audit::AuditPage/>
                </Routes>
            </Frame>
            <ToastView/>
        </Router>
    }
}

/// Navigation, top bar and the session guard around every page.
#[component]
fn Frame(children: ChildrenFn) -> impl IntoView {
    let session = use_session();
    let location = use_location();
    let navigate = use_navigate();
    let public = Memo::new(move |_| is_public(&location.pathname.get()));

    // No session on a private page: to the login page, and back here after.
    Effect::new(move |_| {
        if public.get() || !session.checked.get() || session.me.with(Option::is_some) {
            return;
        }
        let here = format!(
            "{}{}",
            location.pathname.get_untracked(),
            location.search.get_untracked()
        );
        let target = if here == "/" {
            "/login".to_string()
        } else {
            format!("/login?next={}", api::enc(&here))
        };
        navigate(
            &target,
            NavigateOptions {
                replace: true,
                ..Default::default()
            },
        );
    });

    // Tests (and people) may click once this is set.
    Effect::new(move |_| {
        if session.checked.get()
            && let Some(root) = document().document_element()
        {
            let _ = root.set_attribute("data-ready", "true");
        }
    });

    let signed_in = move || !public.get() && session.me.with(Option::is_some);
    let show_page = move || public.get() || session.me.with(Option::is_some);

    view! {
        <div class="app" class:app-public=public>
            <Show when=signed_in>
                <Nav/>
            </Show>
            <div class="content">
                <Show when=signed_in>
                    <TopBar/>
                </Show>
                <main id="main" tabindex="-1">
                    <Show
                        when=show_page
                        fallback=|| view! { <p class="loading" role="status">"Loading…"</p> }
                    >
                        {children()}
                    </Show>
                </main>
            </div>
        </div>
    }
}

#[component]
fn Nav() -> impl IntoView {
    let session = use_session();
    let open = RwSignal::new(false);
    let me = move || session.me.get();
    let owner = move || me().as_ref().is_some_and(rbac::is_owner);
    let admin = move || me().as_ref().is_some_and(rbac::is_admin_somewhere);
    let images_href = move || {
        session.hosts.with(|hs| {
            hs.first()
                .map(|h| format!("/hosts/{}/images", api::enc(&h.id)))
                .unwrap_or_else(|| "/hosts".into())
        })
    };
    let close = move |_| open.set(false);
    let version = LocalResource::new(api::health);
    view! {
        <nav class="sidebar" class:open=open aria-label="Main">
            <div class="brand">
                <A href="/">
                    <span class="logo" aria-hidden="true">"⚓"</span>
                    " Berth"
                </A>
                <button
                    class="menu-toggle"
                    aria-expanded=move || open.get().to_string()
                    aria-controls="nav-links"
                    on:click=move |_| open.update(|o| *o = !*o)
                >
                    "Menu"
                </button>
            </div>
            <ul id="nav-links" on:click=close>
                <li><A href="/" exact=true>"Overview"</A></li>
                <li><A href="/hosts">"Hosts"</A></li>
                <li><A href="/containers">"Containers"</A></li>
                <li><a href=images_href>"Images"</a></li>
                <li class="nav-group">"Admin"</li>
                <Show when=owner>
                    <li><A href="/admin/users">"Users"</A></li>
                    <li><A href="/admin/teams">"Teams"</A></li>
                </Show>
                <Show when=admin>
                    <li><A href="/admin/roles">"Role bindings"</A></li>
                </Show>
                <li><A href="/admin/tokens">"API tokens"</A></li>
                <Show when=admin>
                    <li><A href="/admin/audit">"Audit log"</A></li>
                </Show>
                <li><a href="/api/docs" rel="external">"API reference"</a></li>
            </ul>
            <p class="version hint">
                {move || version.get().and_then(Result::ok).map(|h| format!("Berth {}", h.version))}
            </p>
        </nav>
    }
}

#[component]
fn TopBar() -> impl IntoView {
    let session = use_session();
    let theme = expect_context::<RwSignal<String>>();
    let navigate = use_navigate();
    let toggle_theme = move |_| {
        let next = if theme.get_untracked() == "dark" {
            "light"
        } else {
            "dark"
        };
        if let Some(s) = window().local_storage().ok().flatten() {
            let _ = s.set_item(THEME_KEY, next);
        }
        theme.set(next.to_string());
    };
    let logout = move |_| {
        let navigate = navigate.clone();
        spawn_local(async move {
            // Even if the call fails the session is gone from this page.
            let _ = api::logout().await;
            session.me.set(None);
            navigate("/login", NavigateOptions::default());
        });
    };
    let username = move || session.me.with(|m| m.as_ref().map(|m| m.username.clone()));
    let role = move || {
        session
            .me
            .with(|m| m.as_ref().and_then(rbac::highest))
            .map(|r| r.to_string())
            .unwrap_or_else(|| "no role".into())
    };
    view! {
        <header class="topbar">
            <span class="whoami">
                <span class="user" data-testid="username">{username}</span>
                <span class="badge">{role}</span>
            </span>
            <button
                class="ghost"
                on:click=toggle_theme
                aria-label=move || {
                    if theme.get() == "dark" { "Switch to light theme" } else { "Switch to dark theme" }
                }
            >
                {move || if theme.get() == "dark" { "☀ Light" } else { "☾ Dark" }}
            </button>
            <button class="ghost" on:click=logout data-testid="logout">"Log out"</button>
        </header>
    }
}
