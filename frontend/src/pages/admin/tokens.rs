//! API tokens for scripts: create (the secret is shown once, with a copy
//! button), list, revoke.

use berth_api::auth::{ApiToken, CreateToken, CreatedToken};
use chrono::{Duration, Utc};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::components::confirm::ConfirmButton;
use crate::components::problem::{Loading, ProblemBanner};
use crate::components::toast::use_toasts;
use crate::format;

/// Days until a new token expires, from what is typed: empty or 0 for
/// never, else 1 to 3650.
fn expiry_days(d: &str) -> Result<Option<i64>, String> {
    match d.trim() {
        "" | "0" => Ok(None),
        t => match t.parse::<i64>() {
            Ok(v) if (1..=3650).contains(&v) => Ok(Some(v)),
            _ => Err(format!(
                "expires: {d:?} is not a number of days from 1 to 3650 (or empty for never)"
            )),
        },
    }
}

/// The secret of the token just created, shown this once, with a copy
/// button.
#[component]
fn SecretCard(created: RwSignal<Option<CreatedToken>>, copied: RwSignal<bool>) -> impl IntoView {
    let copy = move |_| {
        if let Some(t) = created.get() {
            let _ = window().navigator().clipboard().write_text(&t.token);
            copied.set(true);
        }
    };
    move || {
        created.get().map(|t| {
            view! {
                <div class="card" role="status" data-testid="token-created">
                    <p>
                        <strong>{format!("Token “{}” created.", t.name)}</strong>
                        " Copy it now: it is shown only this once."
                    </p>
                    <pre class="secret" data-testid="token-secret">{t.token.clone()}</pre>
                    <div class="actions">
                        <button class="primary" on:click=copy>
                            {move || if copied.get() { "Copied" } else { "Copy token" }}
                        </button>
                        <button class="ghost" on:click=move |_| created.set(None)>"I saved it"</button>
                    </div>
                </div>
            }
        })
    }
}

/// The user's tokens, each with Revoke.
#[component]
fn TokensTable(
    items: Vec<ApiToken>,
    revoke: impl Fn(ApiToken) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data" data-testid="tokens-table">
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Created"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Actions"</th>
                    </tr>
                </thead>
                <tbody>
                    {items
                        .into_iter()
                        .map(|t| {
                            let t2 = t.clone();
                            view! {
                                <tr data-testid="token-row">
                                    <td>{t.name.clone()}</td>
                                    <td>{format::time(t.created_at)}</td>
                                    <td>{t.expires_at.map(format::time).unwrap_or_else(|| "never".into())}</td>
                                    <td>{t.last_used_at.map(format::time).unwrap_or_else(|| "never".into())}</td>
                                    <td>
                                        <ConfirmButton
                                            label="Revoke"
                                            question="Revoke this token?"
                                            on_confirm=move || revoke(t2.clone())
                                        />
                                    </td>
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
pub fn TokensPage() -> impl IntoView {
    crate::pages::title("API tokens");
    let toasts = use_toasts();
    let tokens = LocalResource::new(api::tokens);
    let name = RwSignal::new(String::new());
    let days = RwSignal::new(String::from("90"));
    let error = RwSignal::new(None::<ApiError>);
    let created = RwSignal::new(None::<CreatedToken>);
    let copied = RwSignal::new(false);

    let create = move |ev: SubmitEvent| {
        ev.prevent_default();
        let n = name.get().trim().to_string();
        if n.is_empty() {
            error.set(Some(ApiError::local("name: say what the token is for")));
            return;
        }
        let expires_at = match expiry_days(&days.get()) {
            Ok(d) => d.map(|v| Utc::now() + Duration::days(v)),
            Err(e) => {
                error.set(Some(ApiError::local(e)));
                return;
            }
        };
        error.set(None);
        spawn_local(async move {
            match api::create_token(&CreateToken {
                name: n,
                expires_at,
            })
            .await
            {
                Ok(t) => {
                    copied.set(false);
                    created.set(Some(t));
                    name.set(String::new());
                    tokens.refetch();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let revoke = move |t: ApiToken| {
        spawn_local(async move {
            match api::delete_token(&t.id).await {
                Ok(()) => {
                    toasts.ok(format!("revoked {}", t.name));
                    tokens.refetch();
                }
                Err(e) => toasts.error(&e),
            }
        });
    };

    view! {
        <section class="page">
            <h1>"API tokens"</h1>
            <p class="hint">"Scripts send a token as " <code>"Authorization: Bearer <token>"</code> "; it acts with your roles."</p>
            <form class="card toolbar" on:submit=create data-testid="token-form">
                <div>
                    <label for="tk-name">"Name"</label>
                    <input id="tk-name" bind:value=name placeholder="ci deploy"/>
                </div>
                <div>
                    <label for="tk-days">"Expires in (days, empty: never)"</label>
                    <input id="tk-days" inputmode="numeric" bind:value=days/>
                </div>
                <button type="submit" class="primary">"Create token"</button>
            </form>
            <ProblemBanner error=error/>
            <SecretCard created=created copied=copied/>
            {move || match tokens.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <ProblemBanner error=Some(e)/> }.into_any(),
                Some(Ok(l)) if l.items.is_empty() => view! { <p class="empty">"No tokens."</p> }.into_any(),
                Some(Ok(l)) => view! { <TokensTable items=l.items revoke=revoke/> }.into_any(),
            }}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_expires_in_days_or_never() {
        assert_eq!(expiry_days(""), Ok(None));
        assert_eq!(expiry_days(" 0 "), Ok(None));
        assert_eq!(expiry_days("90"), Ok(Some(90)));
        assert!(expiry_days("3651").is_err());
        assert!(expiry_days("-1").is_err());
        assert!(expiry_days("soon").is_err());
    }
}
