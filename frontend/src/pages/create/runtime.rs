//! How the container runs: its restart policy, its network (the host's
//! network only for admins) and its runtime (docker only where the host
//! offers it).

use leptos::prelude::*;

use super::fields::Form;

/// Restart policy, network and runtime. `may_admin`: the user is an admin
/// of the chosen host; `runtimes`: what that host offers.
#[component]
pub fn Runtime(
    form: Form,
    may_admin: Signal<bool>,
    runtimes: Signal<Vec<String>>,
) -> impl IntoView {
    let (restart, network, runtime) = (form.restart, form.network, form.runtime);
    view! {
        <div class="field">
            <label for="c-restart">"Restart policy"</label>
            <select id="c-restart" on:change=move |ev| restart.set(event_target_value(&ev))>
                <option value="no">"no"</option>
                <option value="on-failure">"on-failure"</option>
                <option value="on-failure:3">"on-failure:3"</option>
                <option value="always">"always"</option>
                <option value="unless-stopped">"unless-stopped"</option>
            </select>
        </div>
        <div class="field">
            <label for="c-network">"Network"</label>
            <select id="c-network" on:change=move |ev| network.set(event_target_value(&ev))>
                <option value="">"the host's default"</option>
                <option value="bridge">"bridge"</option>
                {move || {
                    may_admin.get().then(|| view! { <option value="host">"host (admins)"</option> })
                }}
                <option value="none">"none"</option>
            </select>
        </div>
        <div class="field">
            <label for="c-runtime">"Runtime"</label>
            <select id="c-runtime" on:change=move |ev| runtime.set(event_target_value(&ev))>
                <option value="berth">"berth"</option>
                {move || {
                    runtimes
                        .get()
                        .contains(&"docker".to_string())
                        .then(|| view! { <option value="docker">"docker"</option> })
                }}
            </select>
        </div>
    }
}
