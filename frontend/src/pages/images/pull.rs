//! The pull form: a reference, optional registry login and plain HTTP; the
//! pull's progress goes to the page's [`PullState`].

use berth_api::images::{PullRequest, RegistryAuth};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

use crate::api::ApiError;
use crate::components::problem::ProblemBanner;
use crate::components::pull::{self, PullState};
use crate::stream::StreamHandle;

/// The pull request the form's values make, or what is wrong with them.
fn request(
    reference: &str,
    user: &str,
    pass: String,
    insecure: bool,
) -> Result<PullRequest, ApiError> {
    let r = reference.trim();
    if r.is_empty() || r.contains(char::is_whitespace) {
        return Err(ApiError::local(
            "reference: enter an image reference such as busybox:latest or 127.0.0.1:5000/app:1",
        ));
    }
    let auth = (!user.trim().is_empty()).then(|| RegistryAuth::Basic {
        username: user.trim().to_string(),
        password: pass,
    });
    Ok(PullRequest {
        reference: r.to_string(),
        auth,
        insecure,
        allow_internal_registries: false,
    })
}

/// Pulls into `host`, following the pull in `state`.
#[component]
pub fn PullForm(host: Memo<String>, state: RwSignal<PullState>) -> impl IntoView {
    let reference = RwSignal::new(String::new());
    let insecure = RwSignal::new(false);
    let auth_user = RwSignal::new(String::new());
    let auth_pass = RwSignal::new(String::new());
    let handle = StoredValue::new_local(None::<StreamHandle>);
    let error = RwSignal::new(None::<ApiError>);
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        match request(
            &reference.get(),
            &auth_user.get(),
            auth_pass.get(),
            insecure.get(),
        ) {
            Ok(req) => {
                error.set(None);
                handle.set_value(Some(pull::start(&host.get(), &req, state)));
            }
            Err(e) => error.set(Some(e)),
        }
    };
    view! {
        <form class="card" on:submit=submit data-testid="pull-form">
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
                    disabled=move || state.with(|s| s.running)
                >
                    "Pull"
                </button>
            </div>
            <ProblemBanner error=error/>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_is_checked_and_a_login_is_optional() {
        assert!(request("  ", "", String::new(), false).is_err());
        assert!(request("busy box", "", String::new(), false).is_err());
        let r = request(" busybox:latest ", " ", "x".into(), true).unwrap();
        assert_eq!(r.reference, "busybox:latest");
        assert!(r.auth.is_none() && r.insecure);
        let r = request("127.0.0.1:5000/app:1", " me ", "pw".into(), false).unwrap();
        assert!(matches!(
            r.auth,
            Some(RegistryAuth::Basic { ref username, ref password }) if username == "me" && password == "pw"
        ));
    }
}
