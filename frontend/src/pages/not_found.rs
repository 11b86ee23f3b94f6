//! Any path the dashboard has no page for.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

#[component]
pub fn NotFound() -> impl IntoView {
    let loc = use_location();
    super::title("Not found");
    view! {
        <section class="page">
            <h1>"No such page"</h1>
            <p>"There is no page at " <code>{move || loc.pathname.get()}</code> "."</p>
            <p><A href="/">"Back to the overview"</A></p>
        </section>
    }
}
