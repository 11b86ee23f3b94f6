//! The form's limits: memory, pids and CPUs (read by [`crate::format`]'s
//! size and CPU parsers when the form is checked).

use leptos::prelude::*;

use super::fields::{Field, Form};

/// Memory, pids and CPU limits.
#[component]
pub fn Resources(form: Form) -> impl IntoView {
    view! {
        <Field id="c-memory" label="Memory limit" value=form.memory placeholder="64m" hint="Bytes, or with k, m, g."/>
        <Field id="c-pids" label="Pids limit" value=form.pids placeholder="64"/>
        <Field id="c-cpus" label="CPU limit (cores)" value=form.cpus placeholder="0.5"/>
    }
}
