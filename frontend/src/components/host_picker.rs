//! The host `<select>` of the dashboard's filters and forms (containers,
//! images, create, audit): the hosts the session knows, by name, optionally
//! only those where the user holds a role, and optionally a first "no host"
//! option with the value `""`. Its label stays with the caller, which knows
//! how it reads there.

use berth_api::auth::Role;
use leptos::prelude::*;

use crate::session::use_session;

/// A `<select id=id>` of hosts showing `selected`; `on_pick` gets the id
/// chosen (`""` for the `any` option).
#[component]
pub fn HostPicker(
    /// The select's id, for its label.
    id: &'static str,
    /// The chosen host's id (`""`: the `any` option, or none).
    #[prop(into)]
    selected: Signal<String>,
    /// Called with the id the user picks.
    on_pick: impl Fn(String) + 'static,
    /// The text of a first option meaning every host ("All hosts").
    #[prop(optional)]
    any: Option<&'static str>,
    /// List only the hosts where the user holds at least this role.
    #[prop(optional)]
    need: Option<Role>,
) -> impl IntoView {
    let session = use_session();
    view! {
        <select id=id on:change=move |ev| on_pick(event_target_value(&ev))>
            {any.map(|text| view! { <option value="">{text}</option> })}
            {move || {
                session
                    .hosts
                    .get()
                    .into_iter()
                    .filter(|h| need.is_none_or(|role| session.may(&h.id, role)))
                    .map(|h| {
                        let sel = selected.get() == h.id;
                        view! { <option value=h.id.clone() selected=sel>{h.name.clone()}</option> }
                    })
                    .collect_view()
            }}
        </select>
    }
}
