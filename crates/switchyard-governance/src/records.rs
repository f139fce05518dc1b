//! The records behind the management API: keys, users, teams and end users, in LiteLLM's field
//! names so its scripts and responses carry over. Fields this gateway does not act on yet are
//! kept as written (`extra`) and returned as they came.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// A JSON object.
pub type Object = Map<String, Value>;

/// Budget, limits and model access: the same fields on keys, users, teams and end users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Model names (or access groups, `all-team-models`, `all-proxy-models`); empty = all.
    pub models: Vec<String>,
    /// Budget in USD.
    pub max_budget: Option<f64>,
    /// Alert threshold in USD.
    pub soft_budget: Option<f64>,
    /// Budget period (`30s`, `1h`, `1d`, `30d`, `1mo`).
    pub budget_duration: Option<String>,
    /// When the budget period ends.
    #[serde(with = "time::serde::rfc3339::option")]
    pub budget_reset_at: Option<OffsetDateTime>,
    /// Tokens per minute.
    pub tpm_limit: Option<u64>,
    /// Requests per minute.
    pub rpm_limit: Option<u64>,
    /// Requests in flight.
    pub max_parallel_requests: Option<u64>,
    /// Budget per model (`{"gpt-4o": {"budget_limit": 1.0, "time_period": "1d"}}`).
    pub model_max_budget: Object,
    /// Requests per minute per model.
    pub model_rpm_limit: BTreeMap<String, u64>,
    /// Tokens per minute per model.
    pub model_tpm_limit: BTreeMap<String, u64>,
    /// Free-form metadata.
    pub metadata: Object,
    /// Refused while true.
    pub blocked: Option<bool>,
}

/// A virtual key. The secret itself is never stored: the row id is its SHA-256 hex.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeyRecord {
    /// SHA-256 hex of the key.
    pub token: String,
    /// Abbreviated display form (`sk-...abcd`).
    pub key_name: Option<String>,
    /// Human name.
    pub key_alias: Option<String>,
    /// Owning user.
    pub user_id: Option<String>,
    /// Owning team.
    pub team_id: Option<String>,
    /// Model name -> model group the key calls instead.
    pub aliases: BTreeMap<String, String>,
    /// Tags added to every request of the key.
    pub tags: Vec<String>,
    /// When the key stops working.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires: Option<OffsetDateTime>,
    /// Created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Who created it.
    pub created_by: Option<String>,
    /// Who changed it last.
    pub updated_by: Option<String>,
    /// Budget, limits, access.
    #[serde(flatten)]
    pub limits: Limits,
    /// Every other field, as written.
    #[serde(flatten)]
    pub extra: Object,
}

/// Role of an internal user.
pub const PROXY_ADMIN: &str = "proxy_admin";

/// An internal user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserRecord {
    /// Id.
    pub user_id: String,
    /// Email.
    pub user_email: Option<String>,
    /// Display name.
    pub user_alias: Option<String>,
    /// `proxy_admin`, `proxy_admin_viewer`, `internal_user`, `internal_user_viewer`.
    pub user_role: Option<String>,
    /// Teams the user belongs to.
    pub teams: Vec<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Budget, limits, access.
    #[serde(flatten)]
    pub limits: Limits,
    /// Every other field, as written.
    #[serde(flatten)]
    pub extra: Object,
}

/// A team member.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Member {
    /// `admin` or `user`.
    pub role: String,
    /// User id.
    pub user_id: Option<String>,
    /// Email.
    pub user_email: Option<String>,
}

/// A team.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TeamRecord {
    /// Id.
    pub team_id: String,
    /// Display name.
    pub team_alias: Option<String>,
    /// Members and their roles.
    pub members_with_roles: Vec<Member>,
    /// Model name -> model group for the team's keys.
    pub model_aliases: BTreeMap<String, String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Budget, limits, access.
    #[serde(flatten)]
    pub limits: Limits,
    /// Every other field, as written.
    #[serde(flatten)]
    pub extra: Object,
}

/// An end user (LiteLLM's customer): the `user` field of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerRecord {
    /// Id (the request's `user`).
    pub user_id: String,
    /// Display name.
    pub alias: Option<String>,
    /// Region the end user's requests must stay in (`eu`, `us`).
    pub allowed_model_region: Option<String>,
    /// Model used when the request names none.
    pub default_model: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// Budget, limits, access.
    #[serde(flatten)]
    pub limits: Limits,
    /// Every other field, as written.
    #[serde(flatten)]
    pub extra: Object,
}

/// A request tag with its own budget and limits (`/tag/new`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TagRecord {
    /// The tag.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Created.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Budget, limits, access.
    #[serde(flatten)]
    pub limits: Limits,
    /// Every other field, as written.
    #[serde(flatten)]
    pub extra: Object,
}

/// Reads a record from JSON, naming the field that is wrong.
pub fn from_json<T: DeserializeOwned>(v: Value) -> Result<T, String> {
    let describe = |e: serde_path_to_error::Error<serde_json::Error>| {
        let path = e.path().to_string();
        if path == "." {
            e.inner().to_string()
        } else {
            format!("{path}: {}", e.inner())
        }
    };
    serde_path_to_error::deserialize(v.clone()).map_err(|e| {
        // A flattened struct hides the path: read the shared fields alone to find it.
        match serde_path_to_error::deserialize::<_, Limits>(v) {
            Err(inner) if inner.path().to_string() != "." => describe(inner),
            _ => describe(e),
        }
    })
}

/// Applies the non-null fields of `patch` to `base`, except `protected` ones (LiteLLM's update
/// semantics: a null or missing field keeps its value).
pub fn merge<T: Serialize + DeserializeOwned>(
    base: &T,
    patch: &Object,
    protected: &[&str],
) -> Result<T, String> {
    let mut v = serde_json::to_value(base).map_err(|e| e.to_string())?;
    if let Some(obj) = v.as_object_mut() {
        for (k, val) in patch {
            if val.is_null() || protected.contains(&k.as_str()) {
                continue;
            }
            obj.insert(k.clone(), val.clone());
        }
    }
    from_json(v)
}

/// Milliseconds since the epoch of a timestamp.
pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// A timestamp from milliseconds since the epoch.
pub fn from_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Nano-dollars as USD.
pub fn usd(nano: i64) -> f64 {
    nano as f64 / 1e9
}

/// USD as nano-dollars (rounded to the nearest).
pub fn nano(usd: f64) -> i64 {
    if usd.is_finite() {
        (usd * 1e9).round() as i64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_keep_unknown_fields_and_name_bad_ones() {
        let k: KeyRecord = from_json(json!({
            "key_alias": "a", "models": ["gpt"], "max_budget": 10, "rpm_limit": 5,
            "budget_limits": [{"x": 1}], "expires": "2030-01-01T00:00:00Z"
        }))
        .unwrap();
        assert_eq!(k.limits.models, ["gpt"]);
        assert_eq!(k.limits.max_budget, Some(10.0));
        assert_eq!(k.extra["budget_limits"], json!([{"x": 1}]));
        let back = serde_json::to_value(&k).unwrap();
        assert_eq!(back["budget_limits"], json!([{"x": 1}]));
        assert_eq!(back["rpm_limit"], json!(5));
        assert_eq!(back["expires"], json!("2030-01-01T00:00:00Z"));
        let e = from_json::<KeyRecord>(json!({"rpm_limit": "lots"})).unwrap_err();
        assert!(e.starts_with("rpm_limit:"), "{e}");
    }

    #[test]
    fn merge_skips_nulls_and_protected_fields() {
        let base: TeamRecord =
            from_json(json!({"team_id": "t", "team_alias": "x", "max_budget": 1.0})).unwrap();
        let patch =
            json!({"team_alias": "y", "max_budget": null, "team_id": "other", "tpm_limit": 9});
        let m = merge(&base, patch.as_object().unwrap(), &["team_id"]).unwrap();
        assert_eq!(m.team_id, "t");
        assert_eq!(m.team_alias.as_deref(), Some("y"));
        assert_eq!(m.limits.max_budget, Some(1.0));
        assert_eq!(m.limits.tpm_limit, Some(9));
    }

    #[test]
    fn money_round_trips_through_nano_dollars() {
        assert_eq!(nano(0.000_001_5), 1_500);
        assert_eq!(usd(nano(12.345_678_9)), 12.345_678_9);
        assert_eq!(nano(f64::NAN), 0);
    }
}
