//! A button that asks again before a destructive action, in place (no modal
//! to trap focus, nothing the keyboard cannot reach).

use leptos::prelude::*;

#[component]
pub fn ConfirmButton(
    /// What the button says.
    #[prop(into)]
    label: String,
    /// The question once clicked.
    #[prop(into)]
    question: String,
    /// Runs when confirmed.
    on_confirm: impl Fn() + Send + Sync + 'static,
    #[prop(into, optional)] testid: String,
    #[prop(into, optional)] disabled: Signal<bool>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    let confirm_ref = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if asking.get()
            && let Some(b) = confirm_ref.get()
        {
            let _ = b.focus();
        }
    });
    let on_confirm = StoredValue::new(on_confirm);
    view! {
        <span class="confirm">
            <Show
                when=move || asking.get()
                fallback=move || {
                    view! {
                        <button
                            class="danger"
                            data-testid=testid.clone()
                            disabled=move || disabled.get()
                            on:click=move |_| asking.set(true)
                        >
                            {label.clone()}
                        </button>
                    }
                }
            >
                <span class="confirm-q">{question.clone()}</span>
                <button
                    class="danger"
                    node_ref=confirm_ref
                    data-testid="confirm-yes"
                    on:click=move |_| {
                        asking.set(false);
                        on_confirm.with_value(|f| f());
                    }
                >
                    "Yes"
                </button>
                <button class="ghost" on:click=move |_| asking.set(false)>"Cancel"</button>
            </Show>
        </span>
    }
}
