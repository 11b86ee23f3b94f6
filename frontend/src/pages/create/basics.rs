//! The form's first section: where it runs (a host the user may deploy
//! on), the image, the name and the command.

use leptos::prelude::*;

use super::fields::{Field, Form};
use crate::components::host_picker::HostPicker;
use crate::rbac::need;

/// Host, image, name and command.
#[component]
pub fn Basics(form: Form, host: RwSignal<String>) -> impl IntoView {
    view! {
        <div class="field">
            <label for="c-host">"Host"</label>
            <HostPicker id="c-host" need=need::DEPLOY selected=host on_pick=move |h| host.set(h)/>
        </div>
        <Field id="c-image" label="Image" value=form.image placeholder="busybox:latest"/>
        <Field id="c-name" label="Name (optional)" value=form.name placeholder="web-1"/>
        <Field
            id="c-cmd"
            label="Command"
            value=form.cmd
            placeholder="sleep 600"
            hint="Replaces the image's command; quotes group words as in a shell."
        />
    }
}
