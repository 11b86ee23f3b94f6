//! The images of one host: list (size, which containers use each), pull
//! with live per-layer progress, import by upload (the file is the request
//! body, streamed by the browser, with upload progress), and remove (the
//! server refuses while a container uses it; its reason is shown).
//!
//! `toolbar` holds the heading and the host picker, `pull` the pull form,
//! `import` the upload form and its XHR, `table` the table and its rows.

mod import;
mod pull;
mod table;
mod toolbar;

use leptos::prelude::*;

use crate::api;
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::pull::{PullState, PullView};
use crate::rbac::need;
use crate::session::use_session;
use import::ImportForm;
use pull::PullForm;
use table::ImagesTable;
use toolbar::Toolbar;

#[component]
pub fn ImagesPage() -> impl IntoView {
    let host = super::param("host");
    let session = use_session();
    Effect::new(move |_| super::title(format!("Images · {}", session.host_name(&host.get()))));

    let images = LocalResource::new(move || {
        let h = host.get();
        async move { api::images(&h).await }
    });
    let refetch = move || images.refetch();
    let may_deploy = Signal::derive(move || session.may(&host.get(), need::DEPLOY));

    let pull_state = RwSignal::new(PullState::default());
    Effect::new(move |_| {
        if pull_state.with(|s| s.finished() && s.image.is_some()) {
            images.refetch();
        }
    });

    view! {
        <section class="page">
            <Toolbar host=host/>
            <Show
                when=move || may_deploy.get()
                fallback=|| view! { <p class="notice">"Your role on this host lets you see images, not pull, import or remove them."</p> }
            >
                <div class="grid-2">
                    <PullForm host=host state=pull_state/>
                    <ImportForm host=host on_imported=refetch/>
                </div>
                <PullView state=pull_state/>
            </Show>
            <h2>"Images"</h2>
            {move || match images.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) if l.items.is_empty() => {
                    view! { <p class="empty">"No images on this host yet."</p> }.into_any()
                }
                Some(Ok(l)) => {
                    view! { <ImagesTable items=l.items host=host may_deploy=may_deploy on_removed=refetch/> }
                        .into_any()
                }
            }}
        </section>
    }
}
