//! The audit log with filters (actor, action, host, since, limit). The
//! filters live in the URL, so a filtered view can be bookmarked.

use berth_api::auth::AuditEvent;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, AuditFilter};
use crate::components::host_picker::HostPicker;
use crate::components::problem::{Loading, ProblemBanner};
use crate::format;
use crate::session::use_session;

/// `2026-11-01` or `2026-11-01T10:00` (UTC) → RFC 3339, as the API wants.
pub fn since_param(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(String::new());
    }
    if chrono::DateTime::parse_from_rfc3339(t).is_ok() {
        return Ok(t.to_string());
    }
    if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M") {
        return Ok(d.and_utc().to_rfc3339());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Ok(d
            .and_hms_opt(0, 0, 0)
            .map(|d| d.and_utc().to_rfc3339())
            .unwrap_or_default());
    }
    Err(format!(
        "since: {t:?} is not a date (2026-11-01) or time (2026-11-01T10:00)"
    ))
}

/// The events found, newest first as the server sends them.
#[component]
fn AuditTable(items: Vec<AuditEvent>) -> impl IntoView {
    let session = use_session();
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="audit-table">
                <thead>
                    <tr>
                        <th scope="col">"Time (UTC)"</th>
                        <th scope="col">"Actor"</th>
                        <th scope="col">"Action"</th>
                        <th scope="col">"Host"</th>
                        <th scope="col">"Target"</th>
                        <th scope="col">"Outcome"</th>
                        <th scope="col">"Source"</th>
                    </tr>
                </thead>
                <tbody>
                    {items
                        .into_iter()
                        .map(|e| {
                            let ok = e.outcome == "success";
                            view! {
                                <tr data-testid="audit-row" data-action=e.action.clone()>
                                    <td>{format::time(e.time)}</td>
                                    <td>{e.actor.clone()}</td>
                                    <td class="mono">{e.action.clone()}</td>
                                    <td>{e.host.clone().map(|h| session.host_name(&h)).unwrap_or_default()}</td>
                                    <td class="mono">{e.target.clone().unwrap_or_default()}</td>
                                    <td>
                                        <span class=if ok { "pill ok" } else { "pill bad" }>
                                            {format!("{} {}", e.outcome, e.status)}
                                        </span>
                                        {e.detail.clone().map(|d| view! { <span class="hint">" "{d}</span> })}
                                    </td>
                                    <td class="mono">{e.source.clone()}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
pub fn AuditPage() -> impl IntoView {
    crate::pages::title("Audit log");
    let query = use_query_map();
    let navigate = use_navigate();
    let get = move |k: &str| query.with_untracked(|q| q.get(k).unwrap_or_default());
    let actor = RwSignal::new(get("actor"));
    let action = RwSignal::new(get("action"));
    let host = RwSignal::new(get("host"));
    let since = RwSignal::new(get("since"));
    let limit = RwSignal::new({
        let l = get("limit");
        if l.is_empty() { "100".to_string() } else { l }
    });
    let error = RwSignal::new(None::<api::ApiError>);

    let filter = Memo::new(move |_| {
        query.with(|q| AuditFilter {
            actor: q.get("actor").unwrap_or_default(),
            action: q.get("action").unwrap_or_default(),
            host: q.get("host").unwrap_or_default(),
            since: q.get("since").unwrap_or_default(),
            limit: q.get("limit").unwrap_or_else(|| "100".into()),
        })
    });
    let events = LocalResource::new(move || {
        let f = filter.get();
        async move { api::audit(&f).await }
    });

    let apply = move |ev: SubmitEvent| {
        ev.prevent_default();
        let s = match since_param(&since.get()) {
            Ok(s) => s,
            Err(e) => {
                error.set(Some(api::ApiError::local(e)));
                return;
            }
        };
        let l = limit.get();
        if !l.trim().is_empty()
            && !l
                .trim()
                .parse::<u32>()
                .is_ok_and(|n| (1..=10_000).contains(&n))
        {
            error.set(Some(api::ApiError::local(
                "limit: a number from 1 to 10000",
            )));
            return;
        }
        error.set(None);
        let q = api::query(&[
            ("actor", actor.get().trim()),
            ("action", action.get().trim()),
            ("host", host.get().trim()),
            ("since", &s),
            ("limit", l.trim()),
        ]);
        navigate(&format!("/admin/audit{q}"), Default::default());
    };

    view! {
        <section class="page">
            <h1>"Audit log"</h1>
            <form class="card toolbar" on:submit=apply role="search" data-testid="audit-form">
                <div>
                    <label for="a-actor">"Actor"</label>
                    <input id="a-actor" bind:value=actor placeholder="username"/>
                </div>
                <div>
                    <label for="a-action">"Action"</label>
                    <input id="a-action" bind:value=action placeholder="container.create"/>
                </div>
                <div>
                    <label for="a-host">"Host"</label>
                    <HostPicker id="a-host" any="Any host" selected=host on_pick=move |h| host.set(h)/>
                </div>
                <div>
                    <label for="a-since">"Since (UTC)"</label>
                    <input id="a-since" bind:value=since placeholder="2026-11-01"/>
                </div>
                <div>
                    <label for="a-limit">"Limit"</label>
                    <input id="a-limit" inputmode="numeric" bind:value=limit/>
                </div>
                <button type="submit" class="primary">"Filter"</button>
            </form>
            <ProblemBanner error=error/>
            {move || match events.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) if l.items.is_empty() => view! { <p class="empty">"No events match."</p> }.into_any(),
                Some(Ok(l)) => view! { <AuditTable items=l.items/> }.into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_dates_and_times() {
        assert_eq!(since_param("").unwrap(), "");
        assert_eq!(
            since_param("2026-11-01").unwrap(),
            "2026-11-01T00:00:00+00:00"
        );
        assert_eq!(
            since_param("2026-11-01T10:30").unwrap(),
            "2026-11-01T10:30:00+00:00"
        );
        assert!(since_param("yesterday").is_err());
    }
}
