//! The images page's heading with the host picker: picking a host opens
//! its images.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::components::host_picker::HostPicker;
use crate::session::use_session;

/// "Images on <host>" and the picker of the host shown.
#[component]
pub fn Toolbar(host: Memo<String>) -> impl IntoView {
    let session = use_session();
    let navigate = use_navigate();
    view! {
        <header class="page-head">
            <h1>"Images on " {move || session.host_name(&host.get())}</h1>
            <div class="actions">
                <label for="img-host" class="visually-hidden">"Host"</label>
                <HostPicker
                    id="img-host"
                    selected=host
                    on_pick=move |h| navigate(&format!("/hosts/{}/images", api::enc(&h)), Default::default())
                />
            </div>
        </header>
    }
}
