//! Berth's dashboard: a client-side Leptos app, built to wasm by
//! scripts/build-frontend.sh and served by berth-server. It talks only to the
//! public REST API (docs/api.md), through [`api`].

mod api;
mod app;
mod components;
mod console;
mod format;
mod num;
mod pages;
mod rbac;
mod session;
mod spec_form;
mod stream;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
