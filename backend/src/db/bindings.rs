//! `role_bindings`: a role, for a user or a team, in a scope.

use berth_api::auth::{Role, RoleBinding, RoleGrant, Scope, Subject};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, new_id, now_ms, parse_col, time};

/// The `(scope_kind, scope_value)` columns of a scope.
pub fn scope_columns(scope: &Scope) -> (&'static str, &str) {
    match scope {
        Scope::Global => ("global", ""),
        Scope::Group(g) => ("group", g),
        Scope::Host(h) => ("host", h),
    }
}

fn scope_from(kind: &str, value: String) -> Result<Scope, sqlx::Error> {
    match kind {
        "global" => Ok(Scope::Global),
        "group" => Ok(Scope::Group(value)),
        "host" => Ok(Scope::Host(value)),
        other => Err(sqlx::Error::ColumnDecode {
            index: "scope_kind".into(),
            source: format!("unknown scope kind {other:?}").into(),
        }),
    }
}

fn from_row(r: &AnyRow) -> Result<RoleBinding, sqlx::Error> {
    let kind: String = r.try_get("subject_kind")?;
    let sid: String = r.try_get("subject_id")?;
    let subject = if kind == "team" {
        Subject::Team(sid)
    } else {
        Subject::User(sid)
    };
    let scope_kind: String = r.try_get("scope_kind")?;
    Ok(RoleBinding {
        id: r.try_get("id")?,
        subject,
        role: parse_col::<Role>(r, "role")?,
        scope: scope_from(&scope_kind, r.try_get("scope_value")?)?,
        created_at: time(r.try_get("created_at")?),
    })
}

macro_rules! columns {
    () => {
        "id, subject_kind, subject_id, role, scope_kind, scope_value, created_at"
    };
}

pub async fn create(
    db: &Db,
    subject: &Subject,
    role: Role,
    scope: &Scope,
) -> Result<RoleBinding, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    let (kind, sid) = match subject {
        Subject::User(u) => ("user", u.as_str()),
        Subject::Team(t) => ("team", t.as_str()),
    };
    let (scope_kind, scope_value) = scope_columns(scope);
    sqlx::query(concat!(
        "INSERT INTO role_bindings (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&id)
    .bind(kind)
    .bind(sid)
    .bind(role.as_str())
    .bind(scope_kind)
    .bind(scope_value)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(RoleBinding {
        id,
        subject: subject.clone(),
        role,
        scope: scope.clone(),
        created_at: time(now),
    })
}

pub async fn list(db: &Db) -> Result<Vec<RoleBinding>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM role_bindings ORDER BY created_at, id"
    ))
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(from_row)
    .collect()
}

pub async fn get(db: &Db, id: &str) -> Result<Option<RoleBinding>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        columns!(),
        " FROM role_bindings WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&db.pool)
    .await?
    .map(|r| from_row(&r))
    .transpose()
}

pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM role_bindings WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected()
        > 0)
}

/// Every grant a user holds: its own bindings and those of its teams.
pub async fn grants_for_user(db: &Db, user_id: &str) -> Result<Vec<RoleGrant>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT role, scope_kind, scope_value FROM role_bindings \
         WHERE (subject_kind = 'user' AND subject_id = $1) \
            OR (subject_kind = 'team' AND subject_id IN \
                (SELECT team_id FROM team_members WHERE user_id = $1))",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?;
    let mut grants = Vec::with_capacity(rows.len());
    for r in &rows {
        let scope_kind: String = r.try_get("scope_kind")?;
        let grant = RoleGrant {
            role: parse_col::<Role>(r, "role")?,
            scope: scope_from(&scope_kind, r.try_get("scope_value")?)?,
        };
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    grants.sort_by_key(|g| std::cmp::Reverse(g.role));
    Ok(grants)
}
