//! What Create does: check the form ([`check`]), then, off the click,
//! pull the image when the host lacks it and create the container
//! ([`run`]).

use berth_api::containers::{ContainerSpec, CreatedContainer};
use berth_api::images::PullRequest;
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::pull::{self, PullState};
use crate::spec_form::SpecForm;
use crate::stream::StreamHandle;

/// The spec to send to `host`, or what is wrong: no host, a field, or a
/// bind mount or the host's network without the admin role there.
pub fn check(host: &str, form: &SpecForm, may_admin: bool) -> Result<ContainerSpec, String> {
    if host.is_empty() {
        return Err("host: choose the host to run it on".into());
    }
    let spec = form.to_spec()?;
    if !spec.mounts.is_empty() && !may_admin {
        return Err("mounts: host bind mounts need the admin role on this host".into());
    }
    if spec
        .network
        .as_ref()
        .is_some_and(|n| n.to_string() == "host")
        && !may_admin
    {
        return Err("network: the host's network needs the admin role on this host".into());
    }
    Ok(spec)
}

/// A checked request to create.
pub struct Request {
    pub host: String,
    pub spec: ContainerSpec,
    /// Start it once created.
    pub start: bool,
    /// Pull the image first when the host lacks it.
    pub pull_first: bool,
    /// That pull talks plain HTTP.
    pub insecure: bool,
}

/// Does `host` have `image` (by reference, normalised or as typed, or id)?
async fn host_has(host: &str, image: &str) -> Result<bool, ApiError> {
    // A reference the agent would refuse is left as typed: the pull or
    // create answers with what is wrong with it.
    let wanted =
        berth_api::image_ref::normalise(image).unwrap_or_else(|_| image.trim().to_string());
    let list = api::images(host).await?;
    Ok(list
        .items
        .iter()
        .any(|i| i.references.iter().any(|r| *r == wanted || r == image) || i.id == image))
}

/// Pulls `req`'s image into its host, following the pull in `state`, and
/// waits for the pull's end.
async fn pull_image(
    req: &Request,
    state: RwSignal<PullState>,
    handle: StoredValue<Option<StreamHandle>, LocalStorage>,
) -> Result<(), ApiError> {
    let pull = PullRequest {
        reference: req.spec.image.clone(),
        auth: None,
        insecure: req.insecure,
        allow_internal_registries: false,
    };
    handle.set_value(Some(pull::start(&req.host, &pull, state)));
    // The stream updates `state`; wait until it ends.
    while !state.with_untracked(PullState::finished) {
        gloo_timers::future::TimeoutFuture::new(200).await;
    }
    match state.with_untracked(|s| s.error.clone()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Pulls the image if asked and missing, then creates the container.
pub async fn run(
    req: Request,
    state: RwSignal<PullState>,
    handle: StoredValue<Option<StreamHandle>, LocalStorage>,
) -> Result<CreatedContainer, ApiError> {
    if req.pull_first && !host_has(&req.host, &req.spec.image).await? {
        pull_image(&req, state, handle).await?;
    }
    api::create_container(&req.host, &req.spec, req.start).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(image: &str) -> SpecForm {
        SpecForm {
            image: image.into(),
            restart: "no".into(),
            runtime: "berth".into(),
            ..SpecForm::default()
        }
    }

    #[test]
    fn a_host_and_the_admin_role_for_host_things_are_needed() {
        let f = form("busybox");
        assert_eq!(
            check("", &f, true).unwrap_err(),
            "host: choose the host to run it on"
        );
        assert_eq!(check("h1", &f, false).unwrap().image, "busybox");
        let mounts = SpecForm {
            mounts: "/srv:/data:ro".into(),
            ..form("busybox")
        };
        assert!(
            check("h1", &mounts, false)
                .unwrap_err()
                .starts_with("mounts:")
        );
        assert!(check("h1", &mounts, true).is_ok());
        let host_net = SpecForm {
            network: "host".into(),
            ..form("busybox")
        };
        assert!(
            check("h1", &host_net, false)
                .unwrap_err()
                .starts_with("network:")
        );
        assert!(check("h1", &form(""), true).is_err());
    }
}
