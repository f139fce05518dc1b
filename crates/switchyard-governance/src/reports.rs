//! Spend reports: `/spend/logs` reads log rows; `/global/spend/report` reads the daily aggregate
//! table only, so it stays fast however many log rows there are.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use switchyard_store::{DailyQuery, LogQuery, SpendLog};
use time::format_description::well_known::Rfc3339;

use crate::records::{from_ms, usd, Object};
use crate::{secret, Governor, PolicyError};

fn date_ms(q: &Object, field: &str, end_of_day: bool) -> Result<Option<i64>, PolicyError> {
    let Some(s) = q
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let bad = || {
        PolicyError::bad_request(format!("`{field}` must be a date, YYYY-MM-DD")).with_param(field)
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let day = s.get(..10).ok_or_else(bad)?;
    let d = time::Date::parse(day, &format).map_err(|_| bad())?;
    let d = if end_of_day {
        d.next_day().ok_or_else(bad)?
    } else {
        d
    };
    Ok(Some(crate::records::ms(d.midnight().assume_utc())))
}

fn day(q: &Object, field: &str) -> Option<String> {
    q.get(field)
        .and_then(Value::as_str)
        .and_then(|s| s.get(..10))
        .map(str::to_owned)
}

fn time_str(ms: i64) -> Value {
    from_ms(ms)
        .format(&Rfc3339)
        .map_or(Value::Null, Value::String)
}

/// A log row in LiteLLM's `LiteLLM_SpendLogs` names.
pub fn log_view(l: &SpendLog) -> Value {
    json!({
        "request_id": l.request_id,
        "call_type": l.call_type,
        "api_key": l.api_key,
        "key_alias": l.key_alias,
        "spend": usd(l.spend_nano),
        "total_tokens": l.total_tokens,
        "prompt_tokens": l.prompt_tokens,
        "completion_tokens": l.completion_tokens,
        "cache_read_input_tokens": l.cache_read_tokens,
        "cache_creation_input_tokens": l.cache_write_tokens,
        "reasoning_tokens": l.reasoning_tokens,
        "startTime": time_str(l.start_time),
        "endTime": time_str(l.end_time),
        "completionStartTime": l.completion_start_time.map(time_str),
        "request_duration_ms": l.request_duration_ms,
        "model": l.model,
        "model_id": l.model_id,
        "model_group": l.model_group,
        "custom_llm_provider": l.provider,
        "api_base": l.api_base,
        "user": l.user_id,
        "end_user": l.end_user,
        "team_id": l.team_id,
        "metadata": l.metadata,
        "cache_hit": l.cache_hit.to_string(),
        "request_tags": l.request_tags,
        "status": l.status,
        "status_code": l.status_code,
        "error_reason": l.error_reason,
        "stream": l.stream,
        "attempted_retries": l.attempted_retries,
        "attempted_fallbacks": l.attempted_fallbacks,
    })
}

impl Governor {
    /// `GET /spend/logs`: filters `api_key` (key or hash), `user_id`, `team_id`, `end_user`,
    /// `request_id`, `start_date`, `end_date` (inclusive days), `limit` (default 1000).
    pub async fn spend_logs(&self, q: &Object) -> Result<Value, PolicyError> {
        let text = |f: &str| {
            q.get(f)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let query = LogQuery {
            api_key: text("api_key").map(|k| {
                if secret::looks_like_hash(&k) {
                    k
                } else {
                    secret::hash_key(&k)
                }
            }),
            user_id: text("user_id"),
            team_id: text("team_id"),
            end_user: text("end_user"),
            request_id: text("request_id"),
            start_ms: date_ms(q, "start_date", false)?,
            end_ms: date_ms(q, "end_date", true)?,
            limit: q.get("limit").and_then(Value::as_i64).unwrap_or(1000),
        };
        let logs = self.store.spend_logs(&query).await?;
        Ok(Value::Array(logs.iter().map(log_view).collect()))
    }

    /// `GET /global/spend/report`: spend per day, grouped by `group_by` = `team` (default),
    /// `customer`, `api_key`, `user`, `tag`, `model` or `provider`, between `start_date` and
    /// `end_date`.
    pub async fn spend_report(&self, q: &Object) -> Result<Value, PolicyError> {
        let group = q.get("group_by").and_then(Value::as_str).unwrap_or("team");
        let (kind, plural, name) = match group {
            "team" => ("team", "teams", "team_name"),
            "customer" | "end_user" => ("end_user", "customers", "customer"),
            "api_key" | "key" => ("key", "api_keys", "api_key"),
            "user" => ("user", "users", "user"),
            "tag" | "tags" => ("tag", "tags", "tag"),
            "model" => ("global", "models", "model"),
            "provider" => ("global", "providers", "provider"),
            other => {
                return Err(PolicyError::bad_request(format!(
                    "`group_by` must be team, customer, api_key, user, tag, model or provider, not {other:?}"
                ))
                .with_param("group_by"))
            }
        };
        date_ms(q, "start_date", false)?;
        date_ms(q, "end_date", true)?;
        let rows = self
            .store
            .daily(&DailyQuery {
                kind: kind.to_owned(),
                id: None,
                from_day: day(q, "start_date"),
                to_day: day(q, "end_date"),
            })
            .await?;
        // day -> group -> (spend, tokens, requests, per model)
        type Detail = BTreeMap<(String, String), (i64, i64, i64)>;
        type Groups = BTreeMap<String, (i64, i64, i64, Detail)>;
        let mut days: BTreeMap<String, Groups> = BTreeMap::new();
        for r in &rows {
            let g = match group {
                "model" => r.model_group.clone(),
                "provider" => r.provider.clone(),
                _ => r.id.clone(),
            };
            let tokens = r.prompt_tokens + r.completion_tokens;
            let e = days.entry(r.day.clone()).or_default().entry(g).or_default();
            e.0 += r.spend_nano;
            e.1 += tokens;
            e.2 += r.requests;
            let d =
                e.3.entry((r.model_group.clone(), r.provider.clone()))
                    .or_default();
            d.0 += r.spend_nano;
            d.1 += tokens;
            d.2 += r.requests;
        }
        let out: Vec<Value> = days
            .into_iter()
            .map(|(day, groups)| {
                let groups: Vec<Value> = groups
                    .into_iter()
                    .map(|(g, (spend, tokens, requests, detail))| {
                        json!({
                            name: g,
                            "total_spend": usd(spend),
                            "total_tokens": tokens,
                            "requests": requests,
                            "metadata": detail.into_iter().map(|((model, provider), (s, t, n))| json!({
                                "model": model, "provider": provider, "spend": usd(s), "total_tokens": t, "requests": n
                            })).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                json!({ "group_by_day": format!("{day}T00:00:00+00:00"), plural: groups })
            })
            .collect();
        Ok(Value::Array(out))
    }
}
