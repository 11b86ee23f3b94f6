//! The create form with the whole container spec, checked before it is
//! sent ([`SpecForm::to_spec`](crate::spec_form::SpecForm::to_spec));
//! optionally pulls the image first when the host lacks it, with the pull's
//! progress on the page.
//!
//! One form in sections, in the order they appear: `basics` (host, image,
//! name, command), `resources` (limits), `runtime` (restart, network,
//! runtime), `environment` (workdir, user, hostname, env, labels), `mounts`
//! (ports, bind mounts), `review` (options and the button). `fields` holds
//! the form's state and its text input, `submit` what Create does.

mod basics;
mod environment;
mod fields;
mod mounts;
mod resources;
mod review;
mod runtime;
mod submit;

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiError};
use crate::components::pull::PullState;
use crate::components::toast::use_toasts;
use crate::rbac::need;
use crate::session::use_session;
use crate::stream::StreamHandle;
use basics::Basics;
use environment::Environment;
use fields::Form;
use mounts::Mounts;
use resources::Resources;
use review::Review;
use runtime::Runtime;
use submit::Request;

/// The host to create on: `?host=`, else the first host the user may
/// deploy on once the hosts are known.
fn chosen_host() -> RwSignal<String> {
    let session = use_session();
    let query = use_query_map();
    let host = RwSignal::new(query.with_untracked(|q| q.get("host").unwrap_or_default()));
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
    host
}

#[component]
pub fn CreatePage() -> impl IntoView {
    super::title("Create container");
    let session = use_session();
    let toasts = use_toasts();
    let navigate = use_navigate();
    let query = use_query_map();

    let host = chosen_host();
    let form = Form::new(query.with_untracked(|q| q.get("image").unwrap_or_default()));
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let pull_state = RwSignal::new(PullState::default());
    let pull_handle = StoredValue::new_local(None::<StreamHandle>);

    let runtimes = Signal::derive(move || {
        let h = host.get();
        session.hosts.with(|hs| {
            hs.iter()
                .find(|x| x.id == h)
                .map(|x| x.runtimes.clone())
                .unwrap_or_default()
        })
    });
    let may_admin = Signal::derive(move || session.may(&host.get(), need::ADMIN));

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let h = host.get();
        let spec = match submit::check(&h, &form.spec_form(), may_admin.get()) {
            Ok(s) => s,
            Err(e) => {
                error.set(Some(ApiError::local(e)));
                return;
            }
        };
        error.set(None);
        busy.set(true);
        let req = Request {
            host: h,
            spec,
            start: form.start_now.get(),
            pull_first: form.pull_missing.get(),
            insecure: form.insecure.get(),
        };
        let navigate = navigate.clone();
        spawn_local(async move {
            let h = req.host.clone();
            match submit::run(req, pull_state, pull_handle).await {
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
                    <Basics form=form host=host/>
                    <Resources form=form/>
                    <Runtime form=form may_admin=may_admin runtimes=runtimes/>
                    <Environment form=form/>
                    <Mounts form=form may_admin=may_admin/>
                </div>
                <Review form=form error=error pull_state=pull_state busy=busy/>
            </form>
        </section>
    }
}
