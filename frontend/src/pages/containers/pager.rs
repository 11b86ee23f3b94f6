//! The pager under the containers table: first, previous, "Page n of m",
//! next, last, and the rows-per-page choice.

use leptos::prelude::*;

use super::PAGE_SIZES;

#[component]
pub fn Pager(
    page: RwSignal<usize>,
    page_size: RwSignal<usize>,
    pages: Memo<usize>,
) -> impl IntoView {
    // A closure, not an inline `a >= b` attribute: the view macro would read
    // that `>` as the end of the tag.
    let on_last_page = move || page.get() + 1 >= pages.get();
    view! {
        <nav class="pager" aria-label="Pages">
            <button
                disabled=move || page.get() == 0
                on:click=move |_| page.set(0)
                aria-label="First page"
                data-testid="page-first"
            >
                "«"
            </button>
            <button
                disabled=move || page.get() == 0
                on:click=move |_| page.update(|p| *p = p.saturating_sub(1))
                data-testid="page-prev"
            >
                "Previous"
            </button>
            <span data-testid="page-of">{move || format!("Page {} of {}", page.get() + 1, pages.get())}</span>
            <button disabled=on_last_page on:click=move |_| page.update(|p| *p += 1) data-testid="page-next">
                "Next"
            </button>
            <button
                disabled=on_last_page
                on:click=move |_| page.set(pages.get() - 1)
                aria-label="Last page"
                data-testid="page-last"
            >
                "»"
            </button>
            <label class="inline" for="page-size">"Rows per page"</label>
            <select
                id="page-size"
                on:change=move |ev| {
                    if let Ok(n) = event_target_value(&ev).parse::<usize>() {
                        page_size.set(n);
                        page.set(0);
                    }
                }
            >
                {let mut sizes = PAGE_SIZES;
                sizes.sort_unstable();
                sizes
                    .into_iter()
                    .map(|n| {
                        view! {
                            <option value=n.to_string() selected=move || page_size.get() == n>
                                {n.to_string()}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
        </nav>
    }
}
