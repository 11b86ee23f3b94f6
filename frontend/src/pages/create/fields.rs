//! The create form's state ([`Form`]: one signal per field, turned into a
//! [`SpecForm`] to check) and the text input every section uses ([`Field`]).

use leptos::prelude::*;

use crate::spec_form::SpecForm;

/// Every field of the form as typed, and the options under it.
#[derive(Debug, Clone, Copy)]
pub struct Form {
    pub name: RwSignal<String>,
    pub image: RwSignal<String>,
    pub cmd: RwSignal<String>,
    pub env: RwSignal<String>,
    pub workdir: RwSignal<String>,
    pub user: RwSignal<String>,
    pub hostname: RwSignal<String>,
    pub memory: RwSignal<String>,
    pub cpus: RwSignal<String>,
    pub pids: RwSignal<String>,
    pub ports: RwSignal<String>,
    pub mounts: RwSignal<String>,
    pub network: RwSignal<String>,
    pub restart: RwSignal<String>,
    pub labels: RwSignal<String>,
    pub runtime: RwSignal<String>,
    /// Start the container once created.
    pub start_now: RwSignal<bool>,
    /// Pull the image first when the host lacks it.
    pub pull_missing: RwSignal<bool>,
    /// That pull talks plain HTTP to its registry.
    pub insecure: RwSignal<bool>,
}

impl Form {
    /// An empty form for `image` (from the page's `?image=`), with the
    /// defaults: restart `no`, runtime `berth`, start now, pull if missing.
    pub fn new(image: String) -> Self {
        let text = || RwSignal::new(String::new());
        Self {
            name: text(),
            image: RwSignal::new(image),
            cmd: text(),
            env: text(),
            workdir: text(),
            user: text(),
            hostname: text(),
            memory: text(),
            cpus: text(),
            pids: text(),
            ports: text(),
            mounts: text(),
            network: text(),
            restart: RwSignal::new(String::from("no")),
            labels: text(),
            runtime: RwSignal::new(String::from("berth")),
            start_now: RwSignal::new(true),
            pull_missing: RwSignal::new(true),
            insecure: RwSignal::new(false),
        }
    }

    /// The text fields, to be checked and turned into a spec.
    pub fn spec_form(self) -> SpecForm {
        SpecForm {
            name: self.name.get(),
            image: self.image.get(),
            cmd: self.cmd.get(),
            env: self.env.get(),
            workdir: self.workdir.get(),
            user: self.user.get(),
            hostname: self.hostname.get(),
            memory: self.memory.get(),
            cpus: self.cpus.get(),
            pids: self.pids.get(),
            ports: self.ports.get(),
            mounts: self.mounts.get(),
            network: self.network.get(),
            restart: self.restart.get(),
            labels: self.labels.get(),
            runtime: self.runtime.get(),
        }
    }
}

/// A text input bound to one field of the form.
#[component]
pub fn Field(
    id: &'static str,
    #[prop(into)] label: String,
    value: RwSignal<String>,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional, into)] hint: String,
    #[prop(optional)] multiline: bool,
) -> impl IntoView {
    let hint_id = format!("{id}-hint");
    let has_hint = !hint.is_empty();
    view! {
        <div class="field">
            <label for=id>{label}</label>
            {if multiline {
                view! {
                    <textarea
                        id=id
                        name=id
                        placeholder=placeholder
                        aria-describedby=has_hint.then(|| hint_id.clone())
                        prop:value=move || value.get()
                        on:input=move |ev| value.set(event_target_value(&ev))
                    ></textarea>
                }
                    .into_any()
            } else {
                view! {
                    <input
                        id=id
                        name=id
                        placeholder=placeholder
                        aria-describedby=has_hint.then(|| hint_id.clone())
                        bind:value=value
                    />
                }
                    .into_any()
            }}
            {has_hint.then(|| view! { <p class="hint" id=hint_id.clone()>{hint.clone()}</p> })}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_form_has_the_defaults() {
        let owner = Owner::new();
        owner.with(|| {
            let f = Form::new("busybox".into());
            let s = f.spec_form();
            assert_eq!(s.image, "busybox");
            assert_eq!(s.restart, "no");
            assert_eq!(s.runtime, "berth");
            assert!(s.name.is_empty() && s.mounts.is_empty());
            assert!(f.start_now.get_untracked() && f.pull_missing.get_untracked());
            assert!(!f.insecure.get_untracked());
        });
    }
}
