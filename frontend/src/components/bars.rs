//! Horizontal usage bars (CPU, memory, pids), accessible as meters.

use leptos::prelude::*;

/// A bar `value / max` with a text label; colour shifts at 75 % and 90 %.
#[component]
pub fn UsageBar(
    #[prop(into)] value: Signal<f64>,
    #[prop(into)] max: Signal<f64>,
    #[prop(into)] label: Signal<String>,
    #[prop(into, optional)] name: String,
) -> impl IntoView {
    let frac = move || {
        let m = max.get();
        if m > 0.0 {
            (value.get() / m).clamp(0.0, 1.0)
        } else {
            0.0
        }
    };
    let level = move || {
        let f = frac();
        if f >= 0.9 {
            "bar-fill high"
        } else if f >= 0.75 {
            "bar-fill mid"
        } else {
            "bar-fill"
        }
    };
    view! {
        <div
            class="bar"
            role="meter"
            aria-label=name
            aria-valuemin="0"
            aria-valuemax=move || format!("{:.0}", max.get())
            aria-valuenow=move || format!("{:.0}", value.get())
            aria-valuetext=move || label.get()
        >
            <div class=level style:width=move || format!("{:.1}%", frac() * 100.0)></div>
            <span class="bar-label">{move || label.get()}</span>
        </div>
    }
}
