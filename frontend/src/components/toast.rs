//! Short notices after an action: what was done, or the API's `detail` of
//! what failed. They sit in an ARIA live region, so screen readers read them.

use leptos::prelude::*;

use crate::api::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ok,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Toast {
    pub id: u64,
    pub kind: Kind,
    pub text: String,
}

#[derive(Clone, Copy)]
pub struct Toasts {
    list: RwSignal<Vec<Toast>>,
    next: StoredValue<u64>,
}

impl Default for Toasts {
    fn default() -> Self {
        Self::new()
    }
}

impl Toasts {
    pub fn new() -> Self {
        Self {
            list: RwSignal::new(Vec::new()),
            next: StoredValue::new(0),
        }
    }

    fn push(&self, kind: Kind, text: String) {
        let id = self.next.get_value();
        self.next.set_value(id + 1);
        self.list.update(|l| {
            l.push(Toast { id, kind, text });
            // Bounded: a burst of failures shows the latest five.
            let excess = l.len().saturating_sub(5);
            l.drain(..excess);
        });
        let list = self.list;
        let ms = if kind == Kind::Ok { 5_000 } else { 12_000 };
        set_timeout(
            move || list.update(|l| l.retain(|t| t.id != id)),
            std::time::Duration::from_millis(ms),
        );
    }

    pub fn ok(&self, text: impl Into<String>) {
        self.push(Kind::Ok, text.into());
    }

    pub fn error(&self, e: &ApiError) {
        self.push(Kind::Error, e.to_string());
    }

    pub fn error_text(&self, text: impl Into<String>) {
        self.push(Kind::Error, text.into());
    }

    pub fn dismiss(&self, id: u64) {
        self.list.update(|l| l.retain(|t| t.id != id));
    }
}

pub fn use_toasts() -> Toasts {
    expect_context::<Toasts>()
}

#[component]
pub fn ToastView() -> impl IntoView {
    let toasts = use_toasts();
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || toasts.list.get() key=|t| t.id let:t>
                <div
                    class="toast"
                    class:toast-error=t.kind == Kind::Error
                    data-testid=if t.kind == Kind::Error { "toast-error" } else { "toast-ok" }
                >
                    <span>{t.text.clone()}</span>
                    <button
                        class="ghost small"
                        aria-label="Dismiss"
                        on:click=move |_| toasts.dismiss(t.id)
                    >
                        "✕"
                    </button>
                </div>
            </For>
        </div>
    }
}
