//! What the process sees: working directory, user, hostname, environment
//! and labels.

use leptos::prelude::*;

use super::fields::{Field, Form};

/// Working directory, user, hostname, environment and labels.
#[component]
pub fn Environment(form: Form) -> impl IntoView {
    view! {
        <Field id="c-workdir" label="Working directory" value=form.workdir placeholder="/"/>
        <Field id="c-user" label="User" value=form.user placeholder="uid[:gid] or name"/>
        <Field id="c-hostname" label="Hostname" value=form.hostname/>
        <Field id="c-env" label="Environment" value=form.env multiline=true placeholder="KEY=value" hint="One KEY=value per line."/>
        <Field id="c-labels" label="Labels" value=form.labels multiline=true placeholder="app=web" hint="One key=value per line."/>
    }
}
