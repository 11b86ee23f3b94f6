//! The images of one host: list (size, which containers use each), pull
//! with live per-layer progress, import by upload (the file is the request
//! body, streamed by the browser, with upload progress), and remove (the
//! server refuses while a container uses it; its reason is shown).

use berth_api::images::{Image, PullRequest, RegistryAuth};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{HtmlInputElement, ProgressEvent, XmlHttpRequest};

use crate::api::{self, ApiError};
use crate::app::use_session;
use crate::components::confirm::ConfirmButton;
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::pull::{self, PullState, PullView};
use crate::components::toast::use_toasts;
use crate::format;
use crate::rbac::need;
use crate::stream::StreamHandle;

/// Progress of an upload: bytes sent of total; `None` when idle.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Upload {
    sent: f64,
    total: f64,
}

/// Uploads `file` as the body of the import call with XHR (fetch cannot
/// report upload progress); calls `done` with the result.
fn upload(
    host: &str,
    file: web_sys::File,
    progress: RwSignal<Option<Upload>>,
    done: impl FnOnce(Result<String, ApiError>) + 'static,
) -> Result<(), ApiError> {
    let xhr = XmlHttpRequest::new().map_err(|_| ApiError::local("the browser cannot upload"))?;
    xhr.open("POST", &api::import_url(host))
        .map_err(|_| ApiError::local("the upload could not start"))?;
    let _ = xhr.set_request_header(api::CSRF_HEADER, "1");
    let _ = xhr.set_request_header("Content-Type", "application/x-tar");
    let total = file.size();
    progress.set(Some(Upload { sent: 0.0, total }));
    if let Ok(up) = xhr.upload() {
        let on_progress = Closure::<dyn FnMut(ProgressEvent)>::new(move |e: ProgressEvent| {
            let t = if e.length_computable() {
                e.total()
            } else {
                total
            };
            progress.set(Some(Upload {
                sent: e.loaded(),
                total: t,
            }));
        });
        up.set_onprogress(Some(on_progress.as_ref().unchecked_ref()));
        on_progress.forget();
    }
    let done = std::cell::RefCell::new(Some(done));
    let xhr2 = xhr.clone();
    let on_end = Closure::<dyn FnMut(web_sys::Event)>::new(move |_e: web_sys::Event| {
        let Some(done) = done.borrow_mut().take() else {
            return;
        };
        progress.set(None);
        let status = xhr2.status().unwrap_or(0);
        let text = xhr2.response_text().ok().flatten().unwrap_or_default();
        if status == 0 {
            done(Err(ApiError::local(
                "the upload broke off (connection closed by the server or the network)",
            )));
        } else if (200..300).contains(&status) {
            done(Ok(text));
        } else {
            let st = xhr2.status_text().unwrap_or_default();
            done(Err(api::problem_from_text(status, &st, &text)));
        }
    });
    xhr.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
    on_end.forget();
    xhr.send_with_opt_blob(Some(&file))
        .map_err(|_| ApiError::local("the upload could not be sent"))
}

#[component]
pub fn ImagesPage() -> impl IntoView {
    let host = super::param("host");
    let session = use_session();
    let toasts = use_toasts();
    let navigate = use_navigate();
    Effect::new(move |_| super::title(format!("Images · {}", session.host_name(&host.get()))));

    let images = LocalResource::new(move || {
        let h = host.get();
        async move { api::images(&h).await }
    });
    let may_deploy = move || session.may(&host.get(), need::DEPLOY);

    // Pull.
    let reference = RwSignal::new(String::new());
    let insecure = RwSignal::new(false);
    let auth_user = RwSignal::new(String::new());
    let auth_pass = RwSignal::new(String::new());
    let pull_state = RwSignal::new(PullState::default());
    let pull_handle = StoredValue::new_local(None::<StreamHandle>);
    let pull_error = RwSignal::new(None::<ApiError>);
    Effect::new(move |_| {
        if pull_state.with(|s| s.finished() && s.image.is_some()) {
            images.refetch();
        }
    });
    let pull_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let r = reference.get().trim().to_string();
        if r.is_empty() || r.contains(char::is_whitespace) {
            pull_error.set(Some(ApiError::local(
                "reference: enter an image reference such as busybox:latest or 127.0.0.1:5000/app:1",
            )));
            return;
        }
        pull_error.set(None);
        let (u, p) = (auth_user.get(), auth_pass.get());
        let auth = (!u.trim().is_empty()).then(|| RegistryAuth::Basic {
            username: u.trim().to_string(),
            password: p,
        });
        let req = PullRequest {
            reference: r,
            auth,
            insecure: insecure.get(),
            allow_internal_registries: false,
        };
        let handle = pull::start(&host.get(), &req, pull_state);
        pull_handle.set_value(Some(handle));
    };

    // Import.
    let file_ref = NodeRef::<leptos::html::Input>::new();
    let progress = RwSignal::new(None::<Upload>);
    let import_error = RwSignal::new(None::<ApiError>);
    let import_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(input) = file_ref.get() else { return };
        let input: HtmlInputElement = input;
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            import_error.set(Some(ApiError::local(
                "file: choose a `docker save` or OCI-layout tar file",
            )));
            return;
        };
        import_error.set(None);
        let name = file.name();
        let r = upload(&host.get(), file, progress, move |r| match r {
            Ok(text) => {
                let what = api::parse_import(&text)
                    .map(|res| {
                        res.images
                            .iter()
                            .flat_map(|i| i.references.iter().cloned())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                toasts.ok(if what.is_empty() {
                    format!("imported {name}")
                } else {
                    format!("imported {what}")
                });
                images.refetch();
            }
            Err(e) => import_error.set(Some(e)),
        });
        if let Err(e) = r {
            import_error.set(Some(e));
        }
    };

    let remove = move |img: Image| {
        spawn_local(async move {
            match api::delete_image(&host.get_untracked(), &img.id).await {
                Ok(()) => {
                    toasts.ok(format!(
                        "removed {}",
                        img.references.first().unwrap_or(&img.id)
                    ));
                    images.refetch();
                }
                Err(e) => toasts.error(&e),
            }
        });
    };

    let container_link = move |id: &str| {
        format!(
            "/hosts/{}/containers/{}",
            api::enc(&host.get_untracked()),
            api::enc(id)
        )
    };

    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Images on " {move || session.host_name(&host.get())}</h1>
                <div class="actions">
                    <label for="img-host" class="visually-hidden">"Host"</label>
                    <select
                        id="img-host"
                        on:change=move |ev| {
                            let h = event_target_value(&ev);
                            navigate(&format!("/hosts/{}/images", api::enc(&h)), Default::default());
                        }
                    >
                        {move || {
                            session
                                .hosts
                                .get()
                                .into_iter()
                                .map(|h| {
                                    let sel = h.id == host.get();
                                    view! { <option value=h.id.clone() selected=sel>{h.name.clone()}</option> }
                                })
                                .collect_view()
                        }}
                    </select>
                </div>
            </header>
            <Show
                when=may_deploy
                fallback=|| view! { <p class="notice">"Your role on this host lets you see images, not pull, import or remove them."</p> }
            >
                <div class="grid-2">
                    <form class="card" on:submit=pull_submit data-testid="pull-form">
                        <h2>"Pull"</h2>
                        <label for="pull-ref">"Reference"</label>
                        <input id="pull-ref" placeholder="busybox:latest" bind:value=reference/>
                        <details>
                            <summary>"Registry login (optional)"</summary>
                            <label for="pull-user">"Username"</label>
                            <input id="pull-user" autocomplete="off" bind:value=auth_user/>
                            <label for="pull-pass">"Password or token"</label>
                            <input id="pull-pass" type="password" autocomplete="off" bind:value=auth_pass/>
                        </details>
                        <div class="actions">
                            <label class="inline">
                                <input type="checkbox" bind:checked=insecure/>
                                "Plain HTTP registry"
                            </label>
                            <button
                                type="submit"
                                class="primary"
                                data-testid="pull-submit"
                                disabled=move || pull_state.with(|s| s.running)
                            >
                                "Pull"
                            </button>
                        </div>
                        <ProblemBanner error=pull_error/>
                    </form>
                    <form class="card" on:submit=import_submit data-testid="import-form">
                        <h2>"Import"</h2>
                        <label for="import-file">"Image archive (docker save or OCI layout, .tar)"</label>
                        <input id="import-file" type="file" accept=".tar,application/x-tar" node_ref=file_ref/>
                        <div class="actions">
                            <button
                                type="submit"
                                class="primary"
                                data-testid="import-submit"
                                disabled=move || progress.with(Option::is_some)
                            >
                                "Upload and import"
                            </button>
                        </div>
                        {move || {
                            progress
                                .get()
                                .map(|u| {
                                    let pct = if u.total > 0.0 { u.sent / u.total * 100.0 } else { 0.0 };
                                    let label = if u.sent >= u.total && u.total > 0.0 {
                                        "uploaded; importing…".to_string()
                                    } else {
                                        format!("{} of {}", format::bytes(u.sent as u64), format::bytes(u.total as u64))
                                    };
                                    view! {
                                        <div
                                            class="progress"
                                            role="progressbar"
                                            aria-label="Upload"
                                            aria-valuemin="0"
                                            aria-valuemax="100"
                                            aria-valuenow=format!("{pct:.0}")
                                        >
                                            <div style:width=format!("{pct:.1}%")></div>
                                        </div>
                                        <p class="hint" data-testid="import-progress">{label}</p>
                                    }
                                })
                        }}
                        <ProblemBanner error=import_error/>
                    </form>
                </div>
                <PullView state=pull_state/>
            </Show>
            <h2>"Images"</h2>
            {move || match images.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) if l.items.is_empty() => {
                    view! { <p class="empty">"No images on this host yet."</p> }.into_any()
                }
                Some(Ok(l)) => {
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
                                    {l
                                        .items
                                        .into_iter()
                                        .map(|img| {
                                            let img2 = img.clone();
                                            let refs = if img.references.is_empty() {
                                                "<none>".to_string()
                                            } else {
                                                img.references.join(", ")
                                            };
                                            view! {
                                                <tr data-testid="image-row" data-refs=refs.clone()>
                                                    <td class="mono">{refs.clone()}</td>
                                                    <td class="mono" title=img.id.clone()>{format::short_id(&img.id).to_string()}</td>
                                                    <td>{format::bytes(img.size_bytes)}</td>
                                                    <td>{img.layers.len()}</td>
                                                    <td title=format::time(img.created_at)>{format::ago(img.created_at, format::now())}</td>
                                                    <td>
                                                        {if img.used_by.is_empty() {
                                                            view! { <span class="muted">"unused"</span> }.into_any()
                                                        } else {
                                                            img.used_by
                                                                .clone()
                                                                .into_iter()
                                                                .map(|c| {
                                                                    view! {
                                                                        <A href=container_link(&c)>
                                                                            <span class="tag mono">{format::short_id(&c).to_string()}</span>
                                                                        </A>
                                                                    }
                                                                })
                                                                .collect_view()
                                                                .into_any()
                                                        }}
                                                    </td>
                                                    <td class="actions-cell">
                                                        <Show when=may_deploy>
                                                            {
                                                                let img2 = img2.clone();
                                                                view! {
                                                                    <ConfirmButton
                                                                        label="Remove"
                                                                        question="Remove this image?"
                                                                        testid="remove-image"
                                                                        on_confirm=move || remove(img2.clone())
                                                                    />
                                                                }
                                                            }
                                                        </Show>
                                                    </td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }
                        .into_any()
                }
            }}
        </section>
    }
}
