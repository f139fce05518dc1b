//! The management API's operations (`/key/*`, `/user/*`, `/team/*`, `/customer/*`), in
//! LiteLLM's request and response shapes. Each change is written to the store, then applied to
//! this instance's cache at once; other instances see it through the change feed.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use switchyard_store::{EntityRow, Kind, ListFilter};
use time::OffsetDateTime;

use crate::records::{
    from_json, merge, nano, usd, CustomerRecord, KeyRecord, Member, Object, TagRecord, TeamRecord,
    UserRecord,
};
use crate::{duration, secret, Caller, Governor, PolicyError};

/// A record kept in the store.
pub trait Stored: Serialize + DeserializeOwned + Default {
    /// Its kind.
    const KIND: Kind;
    /// Its id.
    fn id(&self) -> &str;
    /// Its display name.
    fn alias(&self) -> Option<&str>;
    /// The user it belongs to.
    fn owner_user(&self) -> Option<&str> {
        None
    }
    /// The team it belongs to.
    fn owner_team(&self) -> Option<&str> {
        None
    }
    /// Stamps the time of a change.
    fn touch(&mut self, at: OffsetDateTime);
    /// Sets its id (for records whose id the store row carries, as end users created by spend).
    fn set_id(&mut self, id: &str);
}

/// `Stored` for a record: its kind, id field, alias field, and its `updated_at` field if any.
macro_rules! stored {
    ($t:ident, $kind:expr, $id:ident, $alias:ident $(, $updated:ident)?) => {
        impl Stored for $t {
            const KIND: Kind = $kind;
            fn id(&self) -> &str {
                &self.$id
            }
            fn alias(&self) -> Option<&str> {
                self.$alias.as_deref()
            }
            fn touch(&mut self, at: OffsetDateTime) {
                $(self.$updated = Some(at);)?
                self.created_at.get_or_insert(at);
            }
            fn set_id(&mut self, id: &str) {
                id.clone_into(&mut self.$id);
            }
            stored!(@owners $t);
        }
    };
    (@owners KeyRecord) => {
        fn owner_user(&self) -> Option<&str> {
            self.user_id.as_deref()
        }
        fn owner_team(&self) -> Option<&str> {
            self.team_id.as_deref()
        }
    };
    (@owners $t:ident) => {};
}

stored!(KeyRecord, Kind::Key, token, key_alias, updated_at);
stored!(UserRecord, Kind::User, user_id, user_alias, updated_at);
stored!(TeamRecord, Kind::Team, team_id, team_alias, updated_at);
stored!(CustomerRecord, Kind::EndUser, user_id, alias);
stored!(TagRecord, Kind::Tag, name, description, updated_at);

/// Fields a client may not set directly on any record.
const PROTECTED: &[&str] = &[
    "token",
    "key",
    "key_name",
    "spend",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "expires",
    "budget_reset_at",
    "duration",
    "new_key",
    "auto_create_key",
    "send_invite_email",
    "members",
    "member",
];

fn row_of<T: Stored>(rec: &T, spend_nano: i64) -> Result<EntityRow, PolicyError> {
    let now = switchyard_store::now_ms();
    Ok(EntityRow {
        kind: T::KIND,
        id: rec.id().to_owned(),
        alias: rec.alias().map(str::to_owned),
        user_id: rec.owner_user().map(str::to_owned),
        team_id: rec.owner_team().map(str::to_owned),
        spend_nano,
        data: serde_json::to_value(rec)
            .map_err(|e| PolicyError::bad_request(format!("record does not serialize: {e}")))?,
        created_at: now,
        updated_at: now,
    })
}

fn decode_row<T: Stored>(row: &EntityRow) -> Result<T, PolicyError> {
    let mut rec: T = serde_json::from_value(row.data.clone()).map_err(|e| {
        PolicyError::new(
            500,
            "internal_server_error",
            format!("stored record unreadable: {e}"),
        )
    })?;
    if rec.id().is_empty() {
        rec.set_id(&row.id);
    }
    Ok(rec)
}

/// A record as the API shows it: its fields and its spend in USD.
fn view<T: Serialize>(rec: &T, spend_nano: i64) -> Value {
    let mut v = serde_json::to_value(rec).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("spend".into(), json!(usd(spend_nano)));
    }
    v
}

fn string(body: &Object, field: &str) -> Option<String> {
    body.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn required(body: &Object, field: &str) -> Result<String, PolicyError> {
    string(body, field)
        .ok_or_else(|| PolicyError::bad_request(format!("`{field}` is required")).with_param(field))
}

/// A list of strings (`{"keys": [...]}`); a single string counts as a list of one.
fn strings(body: &Object, field: &str) -> Result<Vec<String>, PolicyError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            PolicyError::bad_request(format!("`{field}` must be a list of strings"))
                .with_param(field)
        }),
    }
}

fn parse<T: DeserializeOwned>(v: Value) -> Result<T, PolicyError> {
    from_json(v).map_err(PolicyError::bad_request)
}

fn later(spec: &str, field: &str) -> Result<OffsetDateTime, PolicyError> {
    duration::add(OffsetDateTime::now_utc(), spec)
        .map_err(|e| PolicyError::bad_request(e).with_param(field))
}

/// The id of a record the caller asks to read: the one named, else the caller's own. Only an
/// admin may read another's.
fn readable(
    caller: &Caller,
    named: Option<String>,
    own: Option<String>,
    param: &str,
    what: &str,
) -> Result<String, PolicyError> {
    let Some(id) = named.or_else(|| own.clone()) else {
        return Err(
            PolicyError::bad_request(format!("Pass `{param}` as a query parameter"))
                .with_param(param),
        );
    };
    if !caller.is_admin() && own.as_deref() != Some(id.as_str()) {
        return Err(PolicyError::new(
            403,
            "auth_error",
            format!("A key may only read its own {what}; use the master key for others."),
        ));
    }
    Ok(id)
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Applies `duration` and `budget_duration` of a request to a record's times.
fn apply_durations(
    body: &Object,
    expires: Option<&mut Option<OffsetDateTime>>,
    reset_at: &mut Option<OffsetDateTime>,
) -> Result<(), PolicyError> {
    if let Some(exp) = expires {
        match body.get("duration") {
            Some(Value::String(d)) if !d.trim().is_empty() => *exp = Some(later(d, "duration")?),
            Some(Value::Null) | None => {}
            Some(Value::String(_)) => *exp = None,
            Some(_) => {
                return Err(
                    PolicyError::bad_request("`duration` must be a string such as 30d")
                        .with_param("duration"),
                )
            }
        }
    }
    if let Some(d) = string(body, "budget_duration") {
        *reset_at = Some(later(&d, "budget_duration")?);
    }
    Ok(())
}

impl Governor {
    /// One record and its spend (stored plus queued), read from the store.
    async fn fetch<T: Stored>(&self, id: &str) -> Result<Option<(T, i64)>, PolicyError> {
        let Some(row) = self.store.get(T::KIND, id).await? else {
            return Ok(None);
        };
        let spend = row.spend_nano + self.accounting.pending(T::KIND, id);
        Ok(Some((decode_row(&row)?, spend)))
    }

    async fn fetch_required<T: Stored>(
        &self,
        id: &str,
        what: &str,
    ) -> Result<(T, i64), PolicyError> {
        self.fetch(id)
            .await?
            .ok_or_else(|| PolicyError::not_found(format!("{what} not found: {id}")))
    }

    async fn create<T: Stored>(&self, mut rec: T, spend_nano: i64) -> Result<T, PolicyError> {
        rec.touch(OffsetDateTime::now_utc());
        let row = row_of(&rec, spend_nano)?;
        self.store.insert(&row).await?;
        self.cache_row(&row);
        Ok(rec)
    }

    async fn save<T: Stored>(&self, mut rec: T) -> Result<T, PolicyError> {
        rec.touch(OffsetDateTime::now_utc());
        let row = row_of(&rec, 0)?;
        if !self.store.update(&row).await? {
            return Err(PolicyError::not_found(format!(
                "{} not found: {}",
                T::KIND.as_str(),
                rec.id()
            )));
        }
        self.reload(T::KIND, rec.id()).await?;
        Ok(rec)
    }

    async fn remove<T: Stored>(&self, ids: &[String]) -> Result<Vec<String>, PolicyError> {
        let gone = self.store.delete(T::KIND, ids).await?;
        for id in &gone {
            self.uncache(T::KIND, id);
        }
        Ok(gone)
    }

    async fn list_all<T: Stored>(&self, filter: &ListFilter) -> Result<Vec<Value>, PolicyError> {
        let (rows, _) = self.store.list(T::KIND, filter, 0, i64::MAX / 2).await?;
        rows.iter()
            .map(|r| {
                Ok(view(
                    &decode_row::<T>(r)?,
                    r.spend_nano + self.accounting.pending(T::KIND, &r.id),
                ))
            })
            .collect()
    }

    /// Deletes every key a filter selects (a deleted user's or team's keys).
    async fn remove_keys_of(&self, filter: ListFilter) -> Result<(), PolicyError> {
        let (rows, _) = self.store.list(Kind::Key, &filter, 0, i64::MAX / 2).await?;
        let ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
        self.remove::<KeyRecord>(&ids).await?;
        Ok(())
    }

    /// The stored hash of a key given as the key itself or as its hash.
    fn key_hash(key: &str) -> String {
        if secret::looks_like_hash(key) {
            key.to_owned()
        } else {
            secret::hash_key(key)
        }
    }

    async fn unique_key_alias(&self, alias: Option<&str>, except: &str) -> Result<(), PolicyError> {
        let Some(alias) = alias else { return Ok(()) };
        let taken = self.store.find_by_alias(Kind::Key, alias).await?;
        if taken.iter().any(|r| r.id != except) {
            return Err(PolicyError::bad_request(format!(
                "Unique key aliases across all keys are required. Key alias={alias} already exists."
            ))
            .with_param("key_alias"));
        }
        Ok(())
    }

    async fn team_must_exist(&self, team: Option<&str>) -> Result<(), PolicyError> {
        if let Some(t) = team {
            if self.store.get(Kind::Team, t).await?.is_none() {
                return Err(
                    PolicyError::bad_request(format!("Team id={t} does not exist."))
                        .with_param("team_id"),
                );
            }
        }
        Ok(())
    }

    /// `POST /key/generate`.
    pub async fn generate_key(&self, caller: &Caller, body: &Object) -> Result<Value, PolicyError> {
        let key = match string(body, "key") {
            Some(k) if !k.starts_with("sk-") => {
                return Err(PolicyError::bad_request(
                    "Invalid key format. A virtual key must start with 'sk-'.",
                )
                .with_param("key"))
            }
            Some(k) => k,
            None => secret::generate_key().map_err(|e| {
                PolicyError::new(500, "internal_server_error", format!("no randomness: {e}"))
            })?,
        };
        let hash = secret::hash_key(&key);
        let base = KeyRecord {
            token: hash.clone(),
            key_name: Some(secret::key_name(&key)),
            created_by: Some(caller.actor()),
            updated_by: Some(caller.actor()),
            ..KeyRecord::default()
        };
        let mut rec = merge(&base, body, PROTECTED).map_err(PolicyError::bad_request)?;
        apply_durations(
            body,
            Some(&mut rec.expires),
            &mut rec.limits.budget_reset_at,
        )?;
        self.team_must_exist(rec.team_id.as_deref()).await?;
        self.unique_key_alias(rec.key_alias.as_deref(), &hash)
            .await?;
        let spend = body.get("spend").and_then(Value::as_f64).map_or(0, nano);
        let rec = self.create(rec, spend).await?;
        let mut out = view(&rec, spend);
        if let Some(o) = out.as_object_mut() {
            o.insert("key".into(), json!(key));
            o.insert("token_id".into(), json!(hash));
            o.insert(
                "duration".into(),
                body.get("duration").cloned().unwrap_or(Value::Null),
            );
        }
        Ok(out)
    }

    /// `POST /key/update`.
    pub async fn update_key(&self, caller: &Caller, body: &Object) -> Result<Value, PolicyError> {
        let given = required(body, "key")?;
        let hash = Self::key_hash(&given);
        let (old, spend) = self.fetch_required::<KeyRecord>(&hash, "Key").await?;
        let mut rec = merge(&old, body, PROTECTED).map_err(PolicyError::bad_request)?;
        apply_durations(
            body,
            Some(&mut rec.expires),
            &mut rec.limits.budget_reset_at,
        )?;
        if rec.team_id != old.team_id {
            self.team_must_exist(rec.team_id.as_deref()).await?;
        }
        if rec.key_alias != old.key_alias {
            self.unique_key_alias(rec.key_alias.as_deref(), &hash)
                .await?;
        }
        rec.updated_by = Some(caller.actor());
        let rec = self.save(rec).await?;
        let mut out = view(&rec, spend);
        if let Some(o) = out.as_object_mut() {
            o.insert("key".into(), json!(given));
        }
        Ok(out)
    }

    /// `POST /key/block` and `/key/unblock`.
    pub async fn block_key(&self, body: &Object, blocked: bool) -> Result<Value, PolicyError> {
        let hash = Self::key_hash(&required(body, "key")?);
        let (mut rec, spend) = self.fetch_required::<KeyRecord>(&hash, "Key").await?;
        rec.limits.blocked = Some(blocked);
        let rec = self.save(rec).await?;
        Ok(view(&rec, spend))
    }

    /// `POST /key/delete`: `{"keys": [...]}` and/or `{"key_aliases": [...]}`.
    pub async fn delete_keys(&self, body: &Object) -> Result<Value, PolicyError> {
        let mut hashes: Vec<String> = strings(body, "keys")?
            .iter()
            .map(|k| Self::key_hash(k))
            .collect();
        for alias in strings(body, "key_aliases")? {
            hashes.extend(
                self.store
                    .find_by_alias(Kind::Key, &alias)
                    .await?
                    .into_iter()
                    .map(|r| r.id),
            );
        }
        if hashes.is_empty() {
            return Err(
                PolicyError::bad_request("Pass `keys` or `key_aliases` to delete")
                    .with_param("keys"),
            );
        }
        let gone = self.remove::<KeyRecord>(&hashes).await?;
        if gone.is_empty() {
            return Err(PolicyError::not_found("None of the keys exist"));
        }
        Ok(json!({ "deleted_keys": gone }))
    }

    /// `GET /key/info?key=`: a key's record (never its secret). A key may read its own.
    pub async fn key_info(&self, caller: &Caller, key: Option<&str>) -> Result<Value, PolicyError> {
        let own = caller.principal().map(|p| p.hash.to_string());
        let hash = readable(caller, key.map(Self::key_hash), own, "key", "key")?;
        let (rec, spend) = self.fetch_required::<KeyRecord>(&hash, "Key").await?;
        Ok(json!({ "key": key.unwrap_or(&hash), "info": view(&rec, spend) }))
    }

    /// `GET /key/list`: hashes (or whole records with `return_full_object`), one page.
    pub async fn list_keys(&self, q: &Object) -> Result<Value, PolicyError> {
        let page = q.get("page").and_then(Value::as_i64).unwrap_or(1).max(1);
        let size = q
            .get("size")
            .and_then(Value::as_i64)
            .unwrap_or(10)
            .clamp(1, 1000);
        let filter = ListFilter {
            user_id: string(q, "user_id"),
            team_id: string(q, "team_id"),
            alias: string(q, "key_alias"),
        };
        let full = q
            .get("return_full_object")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let (rows, total) = self.store.list(Kind::Key, &filter, page - 1, size).await?;
        let keys = rows
            .iter()
            .map(|r| {
                Ok(if full {
                    view(
                        &decode_row::<KeyRecord>(r)?,
                        r.spend_nano + self.accounting.pending(Kind::Key, &r.id),
                    )
                } else {
                    json!(r.id)
                })
            })
            .collect::<Result<Vec<_>, PolicyError>>()?;
        Ok(json!({
            "keys": keys,
            "total_count": total,
            "current_page": page,
            "total_pages": (total + size - 1) / size,
        }))
    }

    /// `POST /key/regenerate` and `/key/{key}/regenerate`: a new secret for the same record
    /// (spend kept); the old secret stops working at once here and within the refresh interval
    /// elsewhere. Other fields in the body update the record.
    pub async fn regenerate_key(
        &self,
        caller: &Caller,
        key: &str,
        body: &Object,
    ) -> Result<Value, PolicyError> {
        let old_hash = Self::key_hash(key);
        let (old, spend) = self.fetch_required::<KeyRecord>(&old_hash, "Key").await?;
        let new_key = match string(body, "new_key") {
            Some(k) if !k.starts_with("sk-") => {
                return Err(PolicyError::bad_request(
                    "Invalid key format. A virtual key must start with 'sk-'.",
                )
                .with_param("new_key"))
            }
            Some(k) => k,
            None => secret::generate_key().map_err(|e| {
                PolicyError::new(500, "internal_server_error", format!("no randomness: {e}"))
            })?,
        };
        let mut rec = merge(&old, body, PROTECTED).map_err(PolicyError::bad_request)?;
        apply_durations(
            body,
            Some(&mut rec.expires),
            &mut rec.limits.budget_reset_at,
        )?;
        rec.token = secret::hash_key(&new_key);
        rec.key_name = Some(secret::key_name(&new_key));
        rec.updated_by = Some(caller.actor());
        rec.touch(OffsetDateTime::now_utc());
        let row = row_of(&rec, spend)?;
        if !self.store.rekey(&old_hash, &row).await? {
            return Err(PolicyError::not_found(format!("Key not found: {key}")));
        }
        self.uncache(Kind::Key, &old_hash);
        self.reload(Kind::Key, &rec.token).await?;
        let mut out = view(&rec, spend);
        if let Some(o) = out.as_object_mut() {
            o.insert("key".into(), json!(new_key));
            o.insert("token_id".into(), json!(rec.token));
        }
        Ok(out)
    }

    /// `POST /key/{key}/reset_spend` (`{"reset_to": 0.0}`).
    pub async fn reset_key_spend(&self, key: &str, body: &Object) -> Result<Value, PolicyError> {
        let hash = Self::key_hash(key);
        let reset_to = body
            .get("reset_to")
            .map_or(Some(0.0), Value::as_f64)
            .filter(|v| *v >= 0.0)
            .ok_or_else(|| {
                PolicyError::bad_request("`reset_to` must be a non-negative number")
                    .with_param("reset_to")
            })?;
        if !self
            .store
            .set_spend(Kind::Key, &hash, nano(reset_to))
            .await?
        {
            return Err(PolicyError::not_found(format!("Key not found: {key}")));
        }
        self.reload(Kind::Key, &hash).await?;
        self.limiter.reset_budget("api_key", &hash);
        Ok(json!({ "key": key, "spend": reset_to }))
    }

    /// Adds `user` to `team` on both records (idempotent).
    async fn link(&self, team_id: &str, member: &Member) -> Result<Option<Value>, PolicyError> {
        let user_id = match (&member.user_id, &member.user_email) {
            (Some(u), _) => u.clone(),
            (None, Some(email)) => {
                let all = self.store.all(Kind::User).await?;
                let found = all
                    .iter()
                    .filter_map(|r| decode_row::<UserRecord>(r).ok())
                    .find(|u| u.user_email.as_deref() == Some(email.as_str()));
                match found {
                    Some(u) => u.user_id,
                    None => new_id(),
                }
            }
            (None, None) => {
                return Err(
                    PolicyError::bad_request("A member needs `user_id` or `user_email`")
                        .with_param("member"),
                )
            }
        };
        let (mut team, _) = self.fetch_required::<TeamRecord>(team_id, "Team").await?;
        if !team
            .members_with_roles
            .iter()
            .any(|m| m.user_id.as_deref() == Some(user_id.as_str()))
        {
            team.members_with_roles.push(Member {
                role: if member.role.is_empty() {
                    "user".into()
                } else {
                    member.role.clone()
                },
                user_id: Some(user_id.clone()),
                user_email: member.user_email.clone(),
            });
            self.save(team).await?;
        }
        let user = match self.fetch::<UserRecord>(&user_id).await? {
            Some((mut u, spend)) => {
                if !u.teams.iter().any(|t| t == team_id) {
                    u.teams.push(team_id.to_owned());
                    u = self.save(u).await?;
                }
                view(&u, spend)
            }
            None => {
                let u = UserRecord {
                    user_id: user_id.clone(),
                    user_email: member.user_email.clone(),
                    user_role: Some("internal_user".into()),
                    teams: vec![team_id.to_owned()],
                    ..UserRecord::default()
                };
                view(&self.create(u, 0).await?, 0)
            }
        };
        Ok(Some(user))
    }

    /// Removes `user_id` from `team_id` on both records.
    async fn unlink(&self, team_id: &str, user_id: &str) -> Result<(), PolicyError> {
        if let Some((mut team, _)) = self.fetch::<TeamRecord>(team_id).await? {
            let before = team.members_with_roles.len();
            team.members_with_roles
                .retain(|m| m.user_id.as_deref() != Some(user_id));
            if team.members_with_roles.len() != before {
                self.save(team).await?;
            }
        }
        if let Some((mut user, _)) = self.fetch::<UserRecord>(user_id).await? {
            let before = user.teams.len();
            user.teams.retain(|t| t != team_id);
            if user.teams.len() != before {
                self.save(user).await?;
            }
        }
        Ok(())
    }

    /// `POST /user/new`: the user, and a key for it unless `auto_create_key: false`.
    pub async fn new_user(&self, caller: &Caller, body: &Object) -> Result<Value, PolicyError> {
        let base = UserRecord {
            user_id: string(body, "user_id").unwrap_or_else(new_id),
            ..UserRecord::default()
        };
        let mut rec = merge(&base, body, PROTECTED).map_err(PolicyError::bad_request)?;
        apply_durations(body, None, &mut rec.limits.budget_reset_at)?;
        let teams = std::mem::take(&mut rec.teams);
        for t in &teams {
            self.team_must_exist(Some(t)).await?;
        }
        let rec = self.create(rec, 0).await?;
        let user_id = rec.user_id.clone();
        for t in &teams {
            self.link(
                t,
                &Member {
                    role: "user".into(),
                    user_id: Some(user_id.clone()),
                    user_email: rec.user_email.clone(),
                },
            )
            .await?;
        }
        let mut out = match self.fetch::<UserRecord>(&user_id).await? {
            Some((u, spend)) => view(&u, spend),
            None => view(&rec, 0),
        };
        if body
            .get("auto_create_key")
            .and_then(Value::as_bool)
            .unwrap_or(true)
        {
            let mut key_req = Object::new();
            key_req.insert("user_id".into(), json!(user_id));
            for f in ["key_alias", "duration", "models", "team_id", "metadata"] {
                if let Some(v) = body.get(f).filter(|v| !v.is_null()) {
                    key_req.insert(f.into(), v.clone());
                }
            }
            let key = self.generate_key(caller, &key_req).await?;
            if let Some(o) = out.as_object_mut() {
                for f in ["key", "token_id", "expires", "key_alias", "key_name"] {
                    o.insert(f.into(), key.get(f).cloned().unwrap_or(Value::Null));
                }
            }
        }
        Ok(out)
    }

    /// `GET /user/info?user_id=`: the user, its keys and its teams. A key may read its own user.
    pub async fn user_info(
        &self,
        caller: &Caller,
        user_id: Option<&str>,
    ) -> Result<Value, PolicyError> {
        let own = caller
            .principal()
            .and_then(|p| p.key.record.user_id.clone());
        let id = readable(caller, user_id.map(str::to_owned), own, "user_id", "user")?;
        let (rec, spend) = self.fetch_required::<UserRecord>(&id, "User").await?;
        let keys = self
            .list_all::<KeyRecord>(&ListFilter {
                user_id: Some(id.clone()),
                ..ListFilter::default()
            })
            .await?;
        let mut teams = Vec::new();
        for t in &rec.teams {
            if let Some((team, s)) = self.fetch::<TeamRecord>(t).await? {
                teams.push(view(&team, s));
            }
        }
        Ok(json!({ "user_id": id, "user_info": view(&rec, spend), "keys": keys, "teams": teams }))
    }

    /// `POST /user/update`.
    pub async fn update_user(&self, body: &Object) -> Result<Value, PolicyError> {
        let id = required(body, "user_id")?;
        let (old, spend) = self.fetch_required::<UserRecord>(&id, "User").await?;
        let mut protected = PROTECTED.to_vec();
        protected.extend(["user_id", "teams"]);
        let mut rec = merge(&old, body, &protected).map_err(PolicyError::bad_request)?;
        apply_durations(body, None, &mut rec.limits.budget_reset_at)?;
        let rec = self.save(rec).await?;
        Ok(json!({ "user_id": id, "data": view(&rec, spend) }))
    }

    /// `POST /user/delete` (`{"user_ids": [...]}`): the users, their keys and memberships.
    pub async fn delete_users(&self, body: &Object) -> Result<Value, PolicyError> {
        let ids = strings(body, "user_ids")?;
        for id in &ids {
            if let Some((u, _)) = self.fetch::<UserRecord>(id).await? {
                for t in &u.teams {
                    self.unlink(t, id).await?;
                }
            }
            self.remove_keys_of(ListFilter {
                user_id: Some(id.clone()),
                ..ListFilter::default()
            })
            .await?;
        }
        let gone = self.remove::<UserRecord>(&ids).await?;
        Ok(json!({ "deleted_users": gone }))
    }

    /// `GET /user/list`.
    pub async fn list_users(&self, q: &Object) -> Result<Value, PolicyError> {
        let page = q.get("page").and_then(Value::as_i64).unwrap_or(1).max(1);
        let size = q
            .get("page_size")
            .and_then(Value::as_i64)
            .unwrap_or(25)
            .clamp(1, 1000);
        let (rows, total) = self
            .store
            .list(Kind::User, &ListFilter::default(), page - 1, size)
            .await?;
        let users = rows
            .iter()
            .map(|r| {
                Ok(view(
                    &decode_row::<UserRecord>(r)?,
                    r.spend_nano + self.accounting.pending(Kind::User, &r.id),
                ))
            })
            .collect::<Result<Vec<_>, PolicyError>>()?;
        Ok(
            json!({ "users": users, "total": total, "page": page, "page_size": size, "total_pages": (total + size - 1) / size }),
        )
    }

    /// `POST /team/new`.
    pub async fn new_team(&self, body: &Object) -> Result<Value, PolicyError> {
        let base = TeamRecord {
            team_id: string(body, "team_id").unwrap_or_else(new_id),
            ..TeamRecord::default()
        };
        let mut rec = merge(&base, body, PROTECTED).map_err(PolicyError::bad_request)?;
        apply_durations(body, None, &mut rec.limits.budget_reset_at)?;
        let members = std::mem::take(&mut rec.members_with_roles);
        let rec = self.create(rec, 0).await?;
        for m in &members {
            self.link(&rec.team_id, m).await?;
        }
        let (rec, spend) = self
            .fetch_required::<TeamRecord>(&rec.team_id, "Team")
            .await?;
        Ok(view(&rec, spend))
    }

    /// `POST /team/update`.
    pub async fn update_team(&self, body: &Object) -> Result<Value, PolicyError> {
        let id = required(body, "team_id")?;
        let (old, spend) = self.fetch_required::<TeamRecord>(&id, "Team").await?;
        let mut protected = PROTECTED.to_vec();
        protected.extend(["team_id", "members_with_roles"]);
        let mut rec = merge(&old, body, &protected).map_err(PolicyError::bad_request)?;
        apply_durations(body, None, &mut rec.limits.budget_reset_at)?;
        let rec = self.save(rec).await?;
        Ok(json!({ "team_id": id, "data": view(&rec, spend) }))
    }

    /// `POST /team/block` and `/team/unblock` (`{"team_id"}`).
    pub async fn block_team(&self, body: &Object, blocked: bool) -> Result<Value, PolicyError> {
        let id = required(body, "team_id")?;
        let (mut rec, spend) = self.fetch_required::<TeamRecord>(&id, "Team").await?;
        rec.limits.blocked = Some(blocked);
        let rec = self.save(rec).await?;
        Ok(view(&rec, spend))
    }

    /// `POST /team/delete` (`{"team_ids": [...]}`): the teams, their keys and memberships.
    pub async fn delete_teams(&self, body: &Object) -> Result<Value, PolicyError> {
        let ids = strings(body, "team_ids")?;
        for id in &ids {
            if let Some((t, _)) = self.fetch::<TeamRecord>(id).await? {
                for m in &t.members_with_roles {
                    if let Some(u) = &m.user_id {
                        self.unlink(id, u).await?;
                    }
                }
            }
            self.remove_keys_of(ListFilter {
                team_id: Some(id.clone()),
                ..ListFilter::default()
            })
            .await?;
        }
        let gone = self.remove::<TeamRecord>(&ids).await?;
        if gone.is_empty() {
            return Err(PolicyError::not_found("None of the teams exist"));
        }
        Ok(json!({ "deleted_teams": gone }))
    }

    /// `GET /team/info?team_id=`: the team and its keys. A key may read its own team.
    pub async fn team_info(
        &self,
        caller: &Caller,
        team_id: Option<&str>,
    ) -> Result<Value, PolicyError> {
        let own = caller
            .principal()
            .and_then(|p| p.key.record.team_id.clone());
        let id = readable(caller, team_id.map(str::to_owned), own, "team_id", "team")?;
        let (rec, spend) = self.fetch_required::<TeamRecord>(&id, "Team").await?;
        let keys = self
            .list_all::<KeyRecord>(&ListFilter {
                team_id: Some(id.clone()),
                ..ListFilter::default()
            })
            .await?;
        Ok(
            json!({ "team_id": id, "team_info": view(&rec, spend), "keys": keys, "team_memberships": [] }),
        )
    }

    /// `GET /team/list`.
    pub async fn list_teams(&self) -> Result<Value, PolicyError> {
        Ok(Value::Array(
            self.list_all::<TeamRecord>(&ListFilter::default()).await?,
        ))
    }

    /// `POST /team/member_add` (`{"team_id", "member": {...} | [...]}`).
    pub async fn team_member_add(&self, body: &Object) -> Result<Value, PolicyError> {
        let id = required(body, "team_id")?;
        let members: Vec<Member> = match body.get("member") {
            Some(Value::Array(a)) => parse(Value::Array(a.clone()))?,
            Some(v @ Value::Object(_)) => vec![parse(v.clone())?],
            _ => {
                return Err(
                    PolicyError::bad_request("`member` must be an object or a list")
                        .with_param("member"),
                )
            }
        };
        self.fetch_required::<TeamRecord>(&id, "Team").await?;
        let mut updated = Vec::new();
        for m in &members {
            updated.extend(self.link(&id, m).await?);
        }
        let (team, spend) = self.fetch_required::<TeamRecord>(&id, "Team").await?;
        let mut out = view(&team, spend);
        if let Some(o) = out.as_object_mut() {
            o.insert("updated_users".into(), Value::Array(updated));
        }
        Ok(out)
    }

    /// `POST /team/member_delete` (`{"team_id", "user_id" | "user_email"}`).
    pub async fn team_member_delete(&self, body: &Object) -> Result<Value, PolicyError> {
        let id = required(body, "team_id")?;
        let (team, _) = self.fetch_required::<TeamRecord>(&id, "Team").await?;
        let email = string(body, "user_email");
        let user = match string(body, "user_id") {
            Some(u) => u,
            None => team
                .members_with_roles
                .iter()
                .find(|m| m.user_email.is_some() && m.user_email == email)
                .and_then(|m| m.user_id.clone())
                .ok_or_else(|| {
                    PolicyError::bad_request("Pass the member's `user_id` or `user_email`")
                        .with_param("user_id")
                })?,
        };
        self.unlink(&id, &user).await?;
        let (team, spend) = self.fetch_required::<TeamRecord>(&id, "Team").await?;
        Ok(view(&team, spend))
    }

    /// `POST /customer/new` (`{"user_id", ...budget fields}`).
    pub async fn new_customer(&self, body: &Object) -> Result<Value, PolicyError> {
        let id = required(body, "user_id")?;
        if body.get("max_budget").is_some_and(|v| !v.is_null())
            && body.get("budget_id").is_some_and(|v| !v.is_null())
        {
            return Err(
                PolicyError::bad_request("Pass `max_budget` or `budget_id`, not both")
                    .with_param("max_budget"),
            );
        }
        let mut rec: CustomerRecord =
            merge(&CustomerRecord::default(), body, PROTECTED).map_err(PolicyError::bad_request)?;
        rec.user_id = id;
        apply_durations(body, None, &mut rec.limits.budget_reset_at)?;
        let rec = self.create(rec, 0).await?;
        Ok(view(&rec, 0))
    }

    /// `GET /customer/info?end_user_id=`.
    pub async fn customer_info(&self, id: &str) -> Result<Value, PolicyError> {
        let (rec, spend) = self
            .fetch_required::<CustomerRecord>(id, "End user")
            .await?;
        Ok(view(&rec, spend))
    }

    /// `POST /customer/update`.
    pub async fn update_customer(&self, body: &Object) -> Result<Value, PolicyError> {
        let id = required(body, "user_id")?;
        let (old, spend) = self
            .fetch_required::<CustomerRecord>(&id, "End user")
            .await?;
        let mut rec = merge(&old, body, PROTECTED).map_err(PolicyError::bad_request)?;
        apply_durations(body, None, &mut rec.limits.budget_reset_at)?;
        let rec = self.save(rec).await?;
        Ok(view(&rec, spend))
    }

    /// `POST /customer/block` and `/customer/unblock` (`{"user_ids": [...]}`).
    pub async fn block_customers(
        &self,
        body: &Object,
        blocked: bool,
    ) -> Result<Value, PolicyError> {
        let ids = strings(body, "user_ids")?;
        let mut done = Vec::new();
        for id in ids {
            let rec = match self.fetch::<CustomerRecord>(&id).await? {
                Some((mut rec, _)) => {
                    rec.limits.blocked = Some(blocked);
                    self.save(rec).await?
                }
                // Blocking an end user not seen yet creates it, blocked.
                None => {
                    let mut rec = CustomerRecord {
                        user_id: id.clone(),
                        ..CustomerRecord::default()
                    };
                    rec.limits.blocked = Some(blocked);
                    self.create(rec, 0).await?
                }
            };
            done.push(rec.user_id);
        }
        Ok(
            json!({ "blocked_users": if blocked { done.clone() } else { Vec::new() }, "unblocked_users": if blocked { Vec::new() } else { done } }),
        )
    }

    /// `POST /customer/delete` (`{"user_ids": [...]}`).
    pub async fn delete_customers(&self, body: &Object) -> Result<Value, PolicyError> {
        let gone = self
            .remove::<CustomerRecord>(&strings(body, "user_ids")?)
            .await?;
        Ok(json!({ "deleted_customers": gone }))
    }

    /// `GET /customer/list`.
    pub async fn list_customers(&self) -> Result<Value, PolicyError> {
        Ok(Value::Array(
            self.list_all::<CustomerRecord>(&ListFilter::default())
                .await?,
        ))
    }

    /// `POST /tag/new` (`{"name", "description", "models", "max_budget", "budget_duration",
    /// "rpm_limit", ...}`). A tag seen on requests before exists already (its spend): then
    /// this sets its budget and limits.
    pub async fn new_tag(&self, body: &Object) -> Result<Value, PolicyError> {
        let name = required(body, "name")?;
        let existing = self.fetch::<TagRecord>(&name).await?;
        if existing
            .as_ref()
            .is_some_and(|(t, _)| t.created_at.is_some())
        {
            return Err(
                PolicyError::bad_request(format!("Tag {name} already exists")).with_param("name"),
            );
        }
        let mut rec: TagRecord =
            merge(&TagRecord::default(), body, PROTECTED).map_err(PolicyError::bad_request)?;
        rec.name = name;
        apply_durations(body, None, &mut rec.limits.budget_reset_at)?;
        match existing {
            Some((_, spend)) => {
                let rec = self.save(rec).await?;
                Ok(view(&rec, spend))
            }
            None => Ok(view(&self.create(rec, 0).await?, 0)),
        }
    }

    /// `POST /tag/update`.
    pub async fn update_tag(&self, body: &Object) -> Result<Value, PolicyError> {
        let name = required(body, "name")?;
        let (old, spend) = self.fetch_required::<TagRecord>(&name, "Tag").await?;
        let mut protected = PROTECTED.to_vec();
        protected.push("name");
        let mut rec = merge(&old, body, &protected).map_err(PolicyError::bad_request)?;
        apply_durations(body, None, &mut rec.limits.budget_reset_at)?;
        let rec = self.save(rec).await?;
        Ok(view(&rec, spend))
    }

    /// `POST /tag/info` (`{"names": [...]}`): the tags by name.
    pub async fn tag_info(&self, body: &Object) -> Result<Value, PolicyError> {
        let mut out = Object::new();
        for name in strings(body, "names")? {
            let (rec, spend) = self.fetch_required::<TagRecord>(&name, "Tag").await?;
            out.insert(name, view(&rec, spend));
        }
        Ok(Value::Object(out))
    }

    /// `POST /tag/delete` (`{"name"}`).
    pub async fn delete_tag(&self, body: &Object) -> Result<Value, PolicyError> {
        let name = required(body, "name")?;
        let gone = self.remove::<TagRecord>(&[name]).await?;
        if gone.is_empty() {
            return Err(PolicyError::not_found("Tag not found"));
        }
        Ok(json!({ "deleted_tags": gone }))
    }

    /// `GET /tag/list`.
    pub async fn list_tags(&self) -> Result<Value, PolicyError> {
        Ok(Value::Array(
            self.list_all::<TagRecord>(&ListFilter::default()).await?,
        ))
    }
}
