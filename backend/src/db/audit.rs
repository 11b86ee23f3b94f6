//! `audit_events`: the append-only record of every mutating call. The tables'
//! triggers refuse UPDATE and DELETE, and no endpoint changes a row.

use berth_api::auth::AuditEvent;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Db, new_id, time};

/// A row to append.
#[derive(Debug, Clone, Default)]
pub struct NewEvent {
    pub time: i64,
    pub actor: String,
    pub action: String,
    pub host: Option<String>,
    pub target: Option<String>,
    pub status: u16,
    pub source: String,
    pub detail: Option<String>,
}

pub async fn insert(db: &Db, e: &NewEvent) -> Result<(), sqlx::Error> {
    let outcome = if e.status < 400 { "success" } else { "failure" };
    sqlx::query(
        "INSERT INTO audit_events (id, time, actor, action, host, target, outcome, status, source, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id())
    .bind(e.time)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.host)
    .bind(&e.target)
    .bind(outcome)
    .bind(i64::from(e.status))
    .bind(&e.source)
    .bind(&e.detail)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<String>,
    /// Exact action, or a prefix when it ends with `*` (`container.*`).
    pub action: Option<String>,
    pub host: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub outcome: Option<String>,
    /// `None`: every row; `Some(hosts)`: only rows about these hosts.
    pub only_hosts: Option<Vec<String>>,
    pub limit: i64,
}

fn from_row(r: &AnyRow) -> Result<AuditEvent, sqlx::Error> {
    Ok(AuditEvent {
        id: r.try_get("id")?,
        time: time(r.try_get("time")?),
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        host: r.try_get("host")?,
        target: r.try_get("target")?,
        outcome: r.try_get("outcome")?,
        status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(0),
        source: r.try_get("source")?,
        detail: r.try_get("detail")?,
    })
}

/// Newest first.
pub async fn list(db: &Db, f: &Filter) -> Result<Vec<AuditEvent>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT id, time, actor, action, host, target, outcome, status, source, detail \
         FROM audit_events WHERE 1 = 1",
    );
    let mut args: Vec<String> = Vec::new();
    let mut ints: Vec<i64> = Vec::new();
    let mut n = 0usize;
    let mut next = |sql: &mut String, clause: &str| {
        n += 1;
        sql.push_str(&clause.replace('?', &format!("${n}")));
        n
    };
    if let Some(a) = &f.actor {
        next(&mut sql, " AND actor = ?");
        args.push(a.clone());
    }
    if let Some(a) = &f.action {
        if let Some(prefix) = a.strip_suffix('*') {
            next(&mut sql, " AND action LIKE ?");
            args.push(format!("{}%", prefix.replace(['%', '_'], "")));
        } else {
            next(&mut sql, " AND action = ?");
            args.push(a.clone());
        }
    }
    if let Some(h) = &f.host {
        next(&mut sql, " AND host = ?");
        args.push(h.clone());
    }
    if let Some(o) = &f.outcome {
        next(&mut sql, " AND outcome = ?");
        args.push(o.clone());
    }
    if let Some(hosts) = &f.only_hosts {
        if hosts.is_empty() {
            return Ok(Vec::new());
        }
        sql.push_str(" AND host IN (");
        for (i, h) in hosts.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            next(&mut sql, "?");
            args.push(h.clone());
        }
        sql.push(')');
    }
    // Integer parameters come after the text ones.
    if let Some(s) = f.since {
        next(&mut sql, " AND time >= ?");
        ints.push(s);
    }
    if let Some(u) = f.until {
        next(&mut sql, " AND time <= ?");
        ints.push(u);
    }
    next(&mut sql, " ORDER BY time DESC, id DESC LIMIT ?");
    ints.push(f.limit.clamp(1, 1000));
    // Only fixed clauses and `$N` placeholders are appended to `sql`; every
    // value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for a in &args {
        q = q.bind(a.clone());
    }
    for v in &ints {
        q = q.bind(*v);
    }
    q.fetch_all(&db.pool).await?.iter().map(from_row).collect()
}
