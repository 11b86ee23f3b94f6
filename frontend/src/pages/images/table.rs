//! The images table: one row per image with its references, size, layers,
//! age, the containers using it (links) and, for deployers, Remove.

use berth_api::images::Image;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;

use crate::api;
use crate::components::confirm::ConfirmButton;
use crate::components::toast::{Toasts, use_toasts};
use crate::format;

/// Removes `img` from `host`, reports it, and runs `on_removed` after a
/// success (the server refuses while a container uses the image).
fn remove(toasts: Toasts, host: String, img: Image, on_removed: impl Fn() + 'static) {
    spawn_local(async move {
        match api::delete_image(&host, &img.id).await {
            Ok(()) => {
                toasts.ok(format!(
                    "removed {}",
                    img.references.first().unwrap_or(&img.id)
                ));
                on_removed();
            }
            Err(e) => toasts.error(&e),
        }
    });
}

/// An image's references as the table shows them (`<none>` for none).
fn refs_of(img: &Image) -> String {
    if img.references.is_empty() {
        "<none>".to_string()
    } else {
        img.references.join(", ")
    }
}

/// The containers using an image, as links to their pages.
fn used_by(host: Memo<String>, img: &Image) -> AnyView {
    if img.used_by.is_empty() {
        return view! { <span class="muted">"unused"</span> }.into_any();
    }
    img.used_by
        .iter()
        .map(|c| {
            let href = format!(
                "/hosts/{}/containers/{}",
                api::enc(&host.get_untracked()),
                api::enc(c)
            );
            let short = format::short_id(c).to_string();
            view! {
                <A href=href>
                    <span class="tag mono">{short}</span>
                </A>
            }
        })
        .collect_view()
        .into_any()
}

/// One image's row.
#[component]
fn ImageRow(
    img: Image,
    host: Memo<String>,
    may_deploy: Signal<bool>,
    on_removed: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let toasts = use_toasts();
    let refs = refs_of(&img);
    let target = img.clone();
    view! {
        <tr data-testid="image-row" data-refs=refs.clone()>
            <td class="mono">{refs.clone()}</td>
            <td class="mono" title=img.id.clone()>{format::short_id(&img.id).to_string()}</td>
            <td>{format::bytes(img.size_bytes)}</td>
            <td>{img.layers.len()}</td>
            <td title=format::time(img.created_at)>{format::ago(img.created_at, format::now())}</td>
            <td>{used_by(host, &img)}</td>
            <td class="actions-cell">
                <Show when=move || may_deploy.get()>
                    {
                        let target = target.clone();
                        view! {
                            <ConfirmButton
                                label="Remove"
                                question="Remove this image?"
                                testid="remove-image"
                                on_confirm=move || remove(toasts, host.get_untracked(), target.clone(), on_removed)
                            />
                        }
                    }
                </Show>
            </td>
        </tr>
    }
}

/// The table of `items` on `host`.
#[component]
pub fn ImagesTable(
    items: Vec<Image>,
    host: Memo<String>,
    may_deploy: Signal<bool>,
    on_removed: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="images-table">
                <thead>
                    <tr>
                        <th scope="col">"References"</th>
                        <th scope="col">"Id"</th>
                        <th scope="col">"Size"</th>
                        <th scope="col">"Layers"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Used by"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {items
                        .into_iter()
                        .map(|img| view! { <ImageRow img=img host=host may_deploy=may_deploy on_removed=on_removed/> })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_without_references_reads_none() {
        let img: Image = serde_json::from_value(serde_json::json!({
            "id": "sha256:0123456789abcdef",
            "references": [],
            "size_bytes": 10,
            "layers": [],
            "created_at": "2026-01-01T00:00:00Z",
            "used_by": []
        }))
        .unwrap();
        assert_eq!(refs_of(&img), "<none>");
        let img = Image {
            references: vec!["a:1".into(), "b:2".into()],
            ..img
        };
        assert_eq!(refs_of(&img), "a:1, b:2");
    }
}
