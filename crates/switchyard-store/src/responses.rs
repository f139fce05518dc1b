//! Kept Responses API answers (`sy_responses`): written after each answer, read when a
//! `previous_response_id` or `GET /v1/responses/{id}` names one this instance does not hold.

use sqlx::Row;

use crate::{Store, StoreError};

/// One kept response.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseRow {
    /// The response id.
    pub id: String,
    /// The key hash that created it (`None`: the master key, or no auth).
    pub owner: Option<String>,
    /// OpenAI answered it (and holds its own state for it).
    pub openai: bool,
    /// When it was kept, ms since the epoch.
    pub created_ms: i64,
    /// The response object, JSON.
    pub response: String,
    /// The conversation up to and including it (input and output items), JSON.
    pub items: String,
}

impl Store {
    /// Keeps a response (replacing one with the same id).
    pub async fn put_response(&self, r: &ResponseRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sy_responses (id, owner, openai, created_ms, response, items) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, openai = excluded.openai, \
             created_ms = excluded.created_ms, response = excluded.response, items = excluded.items",
        )
        .bind(&r.id)
        .bind(r.owner.as_deref())
        .bind(i64::from(r.openai))
        .bind(r.created_ms)
        .bind(&r.response)
        .bind(&r.items)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A kept response.
    pub async fn get_response(&self, id: &str) -> Result<Option<ResponseRow>, StoreError> {
        let row = sqlx::query(
            "SELECT id, owner, openai, created_ms, response, items FROM sy_responses WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(ResponseRow {
                id: r.try_get("id")?,
                owner: r.try_get("owner")?,
                openai: r.try_get::<i64, _>("openai")? != 0,
                created_ms: r.try_get("created_ms")?,
                response: r.try_get("response")?,
                items: r.try_get("items")?,
            })
        })
        .transpose()
    }

    /// Deletes a kept response; whether there was one.
    pub async fn delete_response(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM sy_responses WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes responses kept before `before_ms`; how many.
    pub async fn prune_responses(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sy_responses WHERE created_ms < $1")
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
