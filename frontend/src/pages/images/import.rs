//! The import form: a `docker save` or OCI-layout tar uploaded as the body
//! of the import call with XHR (fetch cannot report upload progress), with
//! a progress bar while it goes.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{HtmlInputElement, ProgressEvent, XmlHttpRequest};

use crate::api::{self, ApiError};
use crate::components::problem::ProblemBanner;
use crate::components::toast::use_toasts;
use crate::format;
use crate::num::u64_from_f64;

/// Progress of an upload: bytes sent of total; `None` when idle.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Upload {
    sent: f64,
    total: f64,
}

impl Upload {
    /// Percent sent, 0 while the total is unknown.
    fn percent(self) -> f64 {
        if self.total > 0.0 {
            self.sent / self.total * 100.0
        } else {
            0.0
        }
    }

    /// `3.0 MiB of 10.0 MiB`, then `uploaded; importing…` once all is sent.
    fn label(self) -> String {
        if self.sent >= self.total && self.total > 0.0 {
            "uploaded; importing…".to_string()
        } else {
            format!(
                "{} of {}",
                format::bytes(u64_from_f64(self.sent)),
                format::bytes(u64_from_f64(self.total))
            )
        }
    }
}

/// Calls `done` once with what the finished XHR answered.
fn on_loadend(
    xhr: XmlHttpRequest,
    progress: RwSignal<Option<Upload>>,
    done: impl FnOnce(Result<String, ApiError>) + 'static,
) -> Closure<dyn FnMut(web_sys::Event)> {
    let done = std::cell::RefCell::new(Some(done));
    Closure::<dyn FnMut(web_sys::Event)>::new(move |_e: web_sys::Event| {
        let Some(done) = done.borrow_mut().take() else {
            return;
        };
        progress.set(None);
        let status = xhr.status().unwrap_or(0);
        let text = xhr.response_text().ok().flatten().unwrap_or_default();
        if status == 0 {
            done(Err(ApiError::local(
                "the upload broke off (connection closed by the server or the network)",
            )));
        } else if (200..300).contains(&status) {
            done(Ok(text));
        } else {
            let st = xhr.status_text().unwrap_or_default();
            done(Err(api::problem_from_text(status, &st, &text)));
        }
    })
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
    let on_end = on_loadend(xhr.clone(), progress, done);
    xhr.set_onloadend(Some(on_end.as_ref().unchecked_ref()));
    on_end.forget();
    xhr.send_with_opt_blob(Some(&file))
        .map_err(|_| ApiError::local("the upload could not be sent"))
}

/// What a toast says of a finished import: the references it brought, or
/// the file's name when the answer names none.
fn imported_what(text: &str, file_name: &str) -> String {
    let what = api::parse_import(text)
        .map(|res| {
            res.images
                .iter()
                .flat_map(|i| i.references.iter().cloned())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    if what.is_empty() {
        format!("imported {file_name}")
    } else {
        format!("imported {what}")
    }
}

/// The progress bar and its text while an upload runs.
#[component]
fn UploadProgress(progress: RwSignal<Option<Upload>>) -> impl IntoView {
    move || {
        progress.get().map(|u| {
            let pct = u.percent();
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
                <p class="hint" data-testid="import-progress">{u.label()}</p>
            }
        })
    }
}

/// Imports an archive into `host`; `on_imported` runs after a success.
#[component]
pub fn ImportForm(host: Memo<String>, on_imported: impl Fn() + Copy + 'static) -> impl IntoView {
    let toasts = use_toasts();
    let file_ref = NodeRef::<leptos::html::Input>::new();
    let progress = RwSignal::new(None::<Upload>);
    let error = RwSignal::new(None::<ApiError>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        let Some(input) = file_ref.get() else { return };
        let input: HtmlInputElement = input;
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            error.set(Some(ApiError::local(
                "file: choose a `docker save` or OCI-layout tar file",
            )));
            return;
        };
        error.set(None);
        let name = file.name();
        let r = upload(&host.get(), file, progress, move |r| match r {
            Ok(text) => {
                toasts.ok(imported_what(&text, &name));
                on_imported();
            }
            Err(e) => error.set(Some(e)),
        });
        if let Err(e) = r {
            error.set(Some(e));
        }
    };
    view! {
        <form class="card" on:submit=submit data-testid="import-form">
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
            <UploadProgress progress=progress/>
            <ProblemBanner error=error/>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_progress_reads_as_sizes_then_importing() {
        let u = Upload {
            sent: 1536.0,
            total: 3072.0,
        };
        assert_eq!(u.percent(), 50.0);
        assert_eq!(u.label(), "1.5 KiB of 3.0 KiB");
        let done = Upload {
            sent: 3072.0,
            total: 3072.0,
        };
        assert_eq!(done.label(), "uploaded; importing…");
        assert_eq!(
            Upload {
                sent: 5.0,
                total: 0.0
            }
            .percent(),
            0.0
        );
    }
}
