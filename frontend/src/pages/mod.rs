//! One module per page of the dashboard's routes (docs/api.md).

pub mod admin;
pub mod container;
pub mod containers;
pub mod create;
pub mod host;
pub mod hosts;
pub mod images;
pub mod login;
pub mod not_found;
pub mod overview;
pub mod setup;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

/// A route parameter (`:host`, `:c`), reactively.
pub fn param(name: &'static str) -> Memo<String> {
    let params = use_params_map();
    Memo::new(move |_| params.with(|p| p.get(name).unwrap_or_default()))
}

/// Sets the document title for the page.
pub fn title(t: impl Into<String>) {
    document().set_title(&format!("{} · Berth", t.into()));
}
