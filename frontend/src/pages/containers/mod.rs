//! Every container on every host the user may see: filters (host, state,
//! label on the server; free text here), sort by any column, bulk actions,
//! and pages (50 rows by default) so a thousand containers stay smooth: only
//! the page's rows are in the DOM, and sorting or filtering a thousand is a
//! few milliseconds of wasm. Buttons the user's role forbids on a row's host
//! are not drawn.
//!
//! An action's answer (the container as it now is) or a removal patches the
//! fetched list in place: the fleet is fetched again only every 10 s, on
//! Refresh, when a filter changes, or after a failed call. Bulk actions run
//! at most [`BULK_IN_FLIGHT`] calls at once.
//!
//! `toolbar` holds the filters and the bulk bar, `table` the table and its
//! rows, `pager` the pager.

mod pager;
mod table;
mod toolbar;

use std::collections::{BTreeSet, HashMap};

use berth_api::containers::{Container, ContainerAction};
use futures::stream::{self, StreamExt};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use berth_api::List;
use berth_api::auth::Role;

use crate::api::{self, ApiResult, ContainerFilter};
use crate::components::problem::{HostErrors, Loading, ProblemBanner};
use crate::components::toast::use_toasts;
use crate::format;
use crate::rbac::need;
use crate::session::use_session;
use pager::Pager;
use table::Table;
use toolbar::{BulkBar, Filters, Toolbar};

/// Rows per page to choose from; the first is the default.
const PAGE_SIZES: [usize; 4] = [50, 100, 200, 25];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Host,
    Image,
    State,
    Created,
}

impl SortKey {
    fn label(self) -> &'static str {
        match self {
            SortKey::Name => "Name",
            SortKey::Host => "Host",
            SortKey::Image => "Image",
            SortKey::State => "State",
            SortKey::Created => "Created",
        }
    }
}

/// Sorts in place by `key` (stable, then by name); hosts sort by the name
/// `host_names` gives their id (else by id).
pub fn sort(
    items: &mut [Container],
    key: SortKey,
    asc: bool,
    host_names: &HashMap<String, String>,
) {
    let host = |id: &str| -> String {
        host_names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    items.sort_by(|a, b| {
        let o = match key {
            SortKey::Name => a.name.cmp(&b.name),
            SortKey::Host => host(&a.host).cmp(&host(&b.host)),
            SortKey::Image => a.image.cmp(&b.image),
            SortKey::State => a.state.as_str().cmp(b.state.as_str()),
            SortKey::Created => a.created_at.cmp(&b.created_at),
        }
        .then_with(|| a.name.cmp(&b.name));
        if asc { o } else { o.reverse() }
    });
}

/// Free-text match on name, id, image and labels.
pub fn matches(c: &Container, text: &str) -> bool {
    let t = text.trim().to_lowercase();
    t.is_empty()
        || c.name.to_lowercase().contains(&t)
        || c.id.starts_with(&t)
        || c.image.to_lowercase().contains(&t)
        || c.labels
            .iter()
            .any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&t))
}

/// Key of a container across hosts.
fn key(c: &Container) -> String {
    format!("{}/{}", c.host, c.id)
}

/// What the server said became of one container after a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The action's answer: the container as it is now.
    Now(Box<Container>),
    /// Removed.
    Gone,
}

/// Patches the fetched rows with what the server answered about the
/// container `id` on `host`, instead of fetching the fleet again. A container
/// whose new state no longer matches the state filter the server applied
/// (`state`, empty for any) leaves the list, as it would on a refetch.
pub fn patch(items: &mut Vec<Container>, host: &str, id: &str, outcome: Outcome, state: &str) {
    let Some(i) = items.iter().position(|c| c.host == host && c.id == id) else {
        return;
    };
    match outcome {
        Outcome::Now(c) if state.is_empty() || c.state.as_str() == state => items[i] = *c,
        _ => {
            items.remove(i);
        }
    }
}

/// Bulk calls in flight at once.
const BULK_IN_FLIGHT: usize = 4;

/// Runs `action` (`None`: a forced removal) on every container in
/// `targets`, at most [`BULK_IN_FLIGHT`] at once, handing each answer to
/// `done` as it arrives; returns how many succeeded.
async fn run_bulk(
    targets: Vec<Container>,
    action: Option<ContainerAction>,
    done: impl Fn(Container, ApiResult<Outcome>),
) -> usize {
    let mut answers = stream::iter(targets)
        .map(|c| async move {
            let r = match action {
                Some(a) => api::container_action(&c.host, &c.id, a)
                    .await
                    .map(|now| Outcome::Now(Box::new(now))),
                None => api::delete_container(&c.host, &c.id, true)
                    .await
                    .map(|()| Outcome::Gone),
            };
            (c, r)
        })
        .buffer_unordered(BULK_IN_FLIGHT);
    let mut ok = 0;
    while let Some((c, r)) = answers.next().await {
        ok += usize::from(r.is_ok());
        done(c, r);
    }
    ok
}

/// The fetched rows matching the search text, sorted.
fn sorted_rows(
    list: LocalResource<ApiResult<List<Container>>>,
    text: RwSignal<String>,
    sort_key: RwSignal<SortKey>,
    asc: RwSignal<bool>,
) -> Memo<Vec<Container>> {
    let session = use_session();
    Memo::new(move |_| {
        let Some(Ok(l)) = list.get() else {
            return Vec::new();
        };
        let t = text.get();
        let mut items: Vec<Container> = l.items.into_iter().filter(|c| matches(c, &t)).collect();
        let names: HashMap<String, String> = session
            .hosts
            .with(|hs| hs.iter().map(|h| (h.id.clone(), h.name.clone())).collect());
        sort(&mut items, sort_key.get(), asc.get(), &names);
        items
    })
}

/// Runs a bulk action on the checked `targets` the role allows, reporting
/// each failure and then the tally, and clears the selection when all are
/// answered.
fn bulk_action(
    targets: Vec<Container>,
    action: Option<ContainerAction>,
    selected: RwSignal<BTreeSet<String>>,
    done: impl Fn(Container, ApiResult<Outcome>) + 'static,
) {
    let session = use_session();
    let toasts = use_toasts();
    let needed = if action.is_some() {
        need::LIFECYCLE
    } else {
        need::DEPLOY
    };
    let (allowed, refused): (Vec<_>, Vec<_>) = targets
        .into_iter()
        .partition(|c| session.may(&c.host, needed));
    if !refused.is_empty() {
        toasts.error_text(format!(
            "skipped {} container(s) your role does not allow this on",
            refused.len()
        ));
    }
    spawn_local(async move {
        let total = allowed.len();
        let ok = run_bulk(allowed, action, move |c, r| {
            if let Err(e) = &r {
                toasts.error_text(format!("{}: {e}", c.name));
            }
            done(c, r);
        })
        .await;
        let verb = action.map(|a| a.as_str()).unwrap_or("remove");
        toasts.ok(format!("{verb}: {ok} of {total} done"));
        selected.set(BTreeSet::new());
    });
}

/// The containers the server filters for, fetched again every 10 s.
fn fleet(filters: Filters) -> LocalResource<ApiResult<List<Container>>> {
    let list = LocalResource::new(move || {
        let f = ContainerFilter {
            host: filters.host.get(),
            state: filters.state.get(),
            label: filters.label_applied.get(),
        };
        async move { api::containers(&f).await }
    });
    let timer =
        set_interval_with_handle(move || list.refetch(), std::time::Duration::from_secs(10)).ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });
    list
}

/// Whether the user's role allows `needed` on any host.
fn any_host_allows(needed: Role) -> Signal<bool> {
    let session = use_session();
    Signal::derive(move || {
        session
            .hosts
            .with(|hs| hs.iter().any(|h| session.may(&h.id, needed)))
    })
}

#[component]
pub fn ContainersPage() -> impl IntoView {
    super::title("Containers");
    let query = use_query_map();
    let filters = Filters {
        host: RwSignal::new(query.with_untracked(|q| q.get("host").unwrap_or_default())),
        state: RwSignal::new(query.with_untracked(|q| q.get("state").unwrap_or_default())),
        label_filter: RwSignal::new(String::new()),
        label_applied: RwSignal::new(String::new()),
        text: RwSignal::new(String::new()),
    };
    let sort_key = RwSignal::new(SortKey::Name);
    let asc = RwSignal::new(true);
    let page = RwSignal::new(0usize);
    let page_size = RwSignal::new(PAGE_SIZES[0]);
    let selected = RwSignal::new(BTreeSet::<String>::new());

    let list = fleet(filters);
    // An answer patches the list; a failure may mean it is stale, so the
    // fleet is fetched again.
    let done = move |c: Container, r: ApiResult<Outcome>| match r {
        Ok(o) => list.update(|l| {
            if let Some(Ok(l)) = l {
                let state = filters.state.get_untracked();
                patch(&mut l.items, &c.host, &c.id, o, &state);
            }
        }),
        Err(_) => list.refetch(),
    };

    let rows = sorted_rows(list, filters.text, sort_key, asc);
    let pages = Memo::new(move |_| rows.with(|r| r.len().div_ceil(page_size.get())).max(1));
    Effect::new(move |_| {
        // Keep the page in range when filters shrink the list.
        let max = pages.get();
        if page.get_untracked() >= max {
            page.set(max - 1);
        }
    });
    let visible = Memo::new(move |_| {
        rows.with(|r| {
            r.iter()
                .skip(page.get() * page_size.get())
                .take(page_size.get())
                .cloned()
                .collect::<Vec<_>>()
        })
    });

    let bulk = move |action: Option<ContainerAction>| {
        let sel = selected.get();
        let targets = rows.with(|r| {
            r.iter()
                .filter(|c| sel.contains(&key(c)))
                .cloned()
                .collect()
        });
        bulk_action(targets, action, selected, done);
    };
    let any_lifecycle = any_host_allows(need::LIFECYCLE);
    let any_deploy = any_host_allows(need::DEPLOY);

    view! {
        <section class="page">
            <header class="page-head">
                <h1>"Containers"</h1>
                <div class="actions">
                    <Show when=move || any_deploy.get()>
                        <A href="/containers/new" attr:class="button primary" attr:data-testid="new-container">
                            "Create container"
                        </A>
                    </Show>
                    <button on:click=move |_| list.refetch()>"Refresh"</button>
                </div>
            </header>
            <Toolbar filters=filters page=page/>
            <BulkBar selected=selected any_lifecycle=any_lifecycle any_deploy=any_deploy bulk=bulk/>
            {move || match list.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) => view! {
                    <HostErrors errors=l.errors.clone()/>
                    <p class="hint" data-testid="container-count">
                        {move || count_text(rows.with(Vec::len), page.get(), page_size.get())}
                    </p>
                }
                .into_any(),
            }}
            <Table visible=visible sort_key=sort_key asc=asc selected=selected done=done/>
            <Pager page=page page_size=page_size pages=pages/>
        </section>
    }
}

/// "N containers", with the rows shown when there is more than a page.
fn count_text(n: usize, page: usize, page_size: usize) -> String {
    let first = page * page_size;
    let last = (first + page_size).min(n);
    if n > page_size {
        format!(
            "{} · showing {}–{}",
            format::count(n, "container"),
            format::thousands(first + 1),
            format::thousands(last),
        )
    } else {
        format::count(n, "container")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::containers::{ContainerState, RuntimeKind};

    fn c(name: &str, host: &str, state: ContainerState) -> Container {
        Container {
            id: format!("{:0>64}", name.len()),
            name: name.into(),
            host: host.into(),
            runtime: RuntimeKind::Berth,
            image: format!("img-{name}"),
            state,
            exit_code: None,
            pid: None,
            created_at: chrono::DateTime::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            limits: Default::default(),
            ports: vec![],
            labels: [("app".to_string(), "web".to_string())].into(),
            restart_count: 0,
            cmd: vec![],
            network: Default::default(),
            ip_address: None,
            restart: Default::default(),
            spec: None,
            redacted: false,
        }
    }

    #[test]
    fn sorts_and_filters() {
        let mut v = vec![
            c("b", "h2", ContainerState::Running),
            c("a", "h1", ContainerState::Stopped),
            c("c", "h1", ContainerState::Paused),
        ];
        let names = HashMap::from([("h1".to_string(), "zeta".to_string())]);
        sort(&mut v, SortKey::Name, false, &names);
        assert_eq!(
            v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["c", "b", "a"]
        );
        // h1 reads as "zeta": after h2 (no name, by id).
        sort(&mut v, SortKey::Host, true, &names);
        assert_eq!(
            v.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["b", "a", "c"]
        );
        assert!(matches(&v[1], "IMG-A"));
        assert!(matches(&v[1], "app=web"));
        assert!(!matches(&v[1], "zzz"));
    }

    #[test]
    fn patches_rows_from_answers() {
        let rows = || {
            vec![
                c("a", "h1", ContainerState::Running),
                c("bb", "h1", ContainerState::Running),
                c("bb", "h2", ContainerState::Running),
            ]
        };
        let stopped = |name: &str, host: &str| {
            let mut s = c(name, host, ContainerState::Stopped);
            s.exit_code = Some(0);
            Outcome::Now(Box::new(s))
        };
        let states = |v: &[Container]| {
            v.iter()
                .map(|c| format!("{}@{}:{}", c.name, c.host, c.state))
                .collect::<Vec<_>>()
        };
        let id = c("bb", "h1", ContainerState::Running).id;

        // Same id on two hosts: only the named host's row changes, in place.
        let mut v = rows();
        patch(&mut v, "h1", &id, stopped("bb", "h1"), "");
        assert_eq!(
            states(&v),
            ["a@h1:running", "bb@h1:stopped", "bb@h2:running"]
        );
        assert_eq!(v[1].exit_code, Some(0));
        // Filtered to running, a stopped container leaves the list.
        let mut v = rows();
        patch(&mut v, "h1", &id, stopped("bb", "h1"), "running");
        assert_eq!(states(&v), ["a@h1:running", "bb@h2:running"]);
        // Removed: gone; unknown: nothing changes.
        let mut v = rows();
        patch(&mut v, "h2", &id, Outcome::Gone, "");
        assert_eq!(states(&v), ["a@h1:running", "bb@h1:running"]);
        patch(&mut v, "h3", &id, Outcome::Gone, "");
        assert_eq!(v.len(), 2);
    }
}
