//! What the container takes from its host: published ports and, for the
//! host's admins only, bind mounts.

use leptos::prelude::*;

use super::fields::{Field, Form};

/// Published ports, and bind mounts when `may_admin`.
#[component]
pub fn Mounts(form: Form, may_admin: Signal<bool>) -> impl IntoView {
    view! {
        <Field
            id="c-ports"
            label="Published ports"
            value=form.ports
            multiline=true
            placeholder="8080:80"
            hint="HOST:CONTAINER[/udp], one per line."
        />
        <Show when=move || may_admin.get()>
            <Field
                id="c-mounts"
                label="Bind mounts (admin)"
                value=form.mounts
                multiline=true
                placeholder="/srv/data:/data:ro"
                hint="/host/path:/container/path[:ro], one per line."
            />
        </Show>
    }
}
