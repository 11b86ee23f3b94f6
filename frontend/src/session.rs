//! Who is signed in and the hosts they may see: the [`Session`] the app
//! provides as context and every page reads with [`use_session`]. (Its own
//! module, below the pages and the app that mounts them.)

use berth_api::auth::{Me, Role};
use berth_api::hosts::Host;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::{api, rbac};

/// Who is signed in, and the hosts they may see (for roles per host).
#[derive(Clone, Copy)]
pub struct Session {
    /// `None` while unknown or after logout.
    pub me: RwSignal<Option<Me>>,
    /// `/auth/me` has answered at least once.
    pub checked: RwSignal<bool>,
    pub hosts: RwSignal<Vec<Host>>,
}

impl Session {
    /// The user's role on a host (by id or name), reactively.
    pub fn role_on(&self, host: &str) -> Option<Role> {
        let me = self.me.get()?;
        self.hosts.with(|hs| {
            hs.iter()
                .find(|h| h.id == host || h.name == host)
                .and_then(|h| rbac::role_on(&me.roles, h))
        })
    }

    /// May the user do what needs `need` on `host`?
    pub fn may(&self, host: &str, need: Role) -> bool {
        rbac::allows(self.role_on(host), need)
    }

    /// Re-reads the host list (after a join, a rename, a login).
    pub fn refresh_hosts(&self) {
        let hosts = self.hosts;
        spawn_local(async move {
            if let Ok(list) = api::hosts().await {
                hosts.set(list.items);
            }
        });
    }

    pub fn host_name(&self, id: &str) -> String {
        self.hosts.with(|hs| {
            hs.iter()
                .find(|h| h.id == id)
                .map(|h| h.name.clone())
                .unwrap_or_else(|| id.to_string())
        })
    }
}

pub fn use_session() -> Session {
    expect_context::<Session>()
}
