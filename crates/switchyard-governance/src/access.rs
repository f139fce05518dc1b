//! Model access: which model names a key, its team and its user may call, and key/team aliases.
//!
//! A list of models grants everything when empty; otherwise it grants the names it holds, the
//! models of the access groups it names (`model_info.access_groups`), names matching a `prefix*`
//! pattern, everything for `*` or `all-proxy-models`, and the team's models for
//! `all-team-models`.

use crate::{Caller, Governor, PolicyError};

/// Grants every model.
pub const ALL_PROXY_MODELS: &str = "all-proxy-models";
/// Grants the models of the key's team.
pub const ALL_TEAM_MODELS: &str = "all-team-models";

impl Governor {
    fn grants(&self, list: &[String], model: &str, team: Option<&[String]>) -> bool {
        list.is_empty()
            || list.iter().any(|m| match m.as_str() {
                "*" | ALL_PROXY_MODELS => true,
                ALL_TEAM_MODELS => team.is_none_or(|t| self.grants(t, model, None)),
                m if m == model => true,
                m => {
                    m.strip_suffix('*').is_some_and(|p| model.starts_with(p))
                        || self
                            .access_groups()
                            .get(m)
                            .is_some_and(|g| g.contains(model))
                }
            })
    }

    /// The model group a request for `requested` goes to (after the key's and team's aliases),
    /// or why the caller may not use it.
    pub fn admit_model(&self, caller: &Caller, requested: &str) -> Result<String, PolicyError> {
        let Caller::Key(p) = caller else {
            return Ok(requested.to_owned());
        };
        let key = &p.key.record;
        let team = p.team.as_ref().map(|t| &t.record);
        let target = key
            .aliases
            .get(requested)
            .or_else(|| team.and_then(|t| t.model_aliases.get(requested)))
            .cloned()
            .unwrap_or_else(|| requested.to_owned());
        let allowed = |list: &[String], team: Option<&[String]>| {
            self.grants(list, requested, team) || self.grants(list, &target, team)
        };
        let team_models = team.map(|t| t.limits.models.as_slice());
        if !allowed(&key.limits.models, team_models) {
            return Err(PolicyError::new(
                401,
                "key_model_access_denied",
                format!(
                    "API Key not allowed to access model. This token can only access models={:?}. Tried to access {requested}",
                    key.limits.models
                ),
            )
            .with_param("model"));
        }
        if let Some(t) = team {
            if !allowed(&t.limits.models, None) {
                return Err(PolicyError::new(
                    401,
                    "team_model_access_denied",
                    format!(
                        "Team not allowed to access model. Team={}, Model={requested}. Allowed team models = {:?}",
                        t.team_id, t.limits.models
                    ),
                )
                .with_param("model"));
            }
        } else if let Some(u) = p.user.as_ref().map(|u| &u.record) {
            if !allowed(&u.limits.models, None) {
                return Err(PolicyError::new(
                    401,
                    "user_model_access_denied",
                    format!(
                        "User not allowed to access model. User={}, Model={requested}. Allowed user models = {:?}",
                        u.user_id, u.limits.models
                    ),
                )
                .with_param("model"));
            }
        }
        Ok(target)
    }

    /// Whether the caller may call a model name (for `/v1/models`).
    pub fn may_use(&self, caller: &Caller, model: &str) -> bool {
        self.admit_model(caller, model).is_ok()
    }
}
