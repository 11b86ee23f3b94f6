//! `teams` and `team_members`.

use berth_api::auth::{Team, TeamMember};
use sqlx::Row;

use super::{Db, new_id, now_ms, time};

pub async fn create(db: &Db, name: &str) -> Result<Team, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    sqlx::query("INSERT INTO teams (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(name)
        .bind(now)
        .execute(&db.pool)
        .await?;
    Ok(Team {
        id,
        name: name.to_string(),
        members: Vec::new(),
        created_at: time(now),
    })
}

pub async fn list(db: &Db) -> Result<Vec<Team>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, name, created_at FROM teams ORDER BY name")
        .fetch_all(&db.pool)
        .await?;
    let members = sqlx::query(
        "SELECT m.team_id, u.id, u.username FROM team_members m JOIN users u ON u.id = m.user_id \
         ORDER BY u.username",
    )
    .fetch_all(&db.pool)
    .await?;
    let mut teams = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let mut t = Team {
            members: Vec::new(),
            name: r.try_get("name")?,
            created_at: time(r.try_get("created_at")?),
            id,
        };
        for m in &members {
            if m.try_get::<String, _>("team_id")? == t.id {
                t.members.push(TeamMember {
                    id: m.try_get("id")?,
                    username: m.try_get("username")?,
                });
            }
        }
        teams.push(t);
    }
    Ok(teams)
}

pub async fn get(db: &Db, id: &str) -> Result<Option<Team>, sqlx::Error> {
    let Some(r) = sqlx::query("SELECT id, name, created_at FROM teams WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let members = sqlx::query(
        "SELECT u.id, u.username FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 ORDER BY u.username",
    )
    .bind(id)
    .fetch_all(&db.pool)
    .await?
    .iter()
    .map(|m| {
        Ok(TeamMember {
            id: m.try_get("id")?,
            username: m.try_get("username")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(Team {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        created_at: time(r.try_get("created_at")?),
        members,
    }))
}

/// Deletes a team with its bindings (memberships go by foreign key).
pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.pool.begin().await?;
    sqlx::query("DELETE FROM role_bindings WHERE subject_kind = 'team' AND subject_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let n = sqlx::query("DELETE FROM teams WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n > 0)
}

/// Adds a member; adding one twice is not an error.
pub async fn add_member(db: &Db, team_id: &str, user_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) \
         ON CONFLICT (team_id, user_id) DO NOTHING",
    )
    .bind(team_id)
    .bind(user_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

pub async fn remove_member(db: &Db, team_id: &str, user_id: &str) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .bind(team_id)
            .bind(user_id)
            .execute(&db.pool)
            .await?
            .rows_affected()
            > 0,
    )
}
