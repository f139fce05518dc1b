//! Scalar values that may be written literally or as `os.environ/VAR`.
//!
//! LiteLLM resolves `os.environ/NAME` anywhere in its config. The types here do the same while
//! the file is deserialized, so a wrong type or a missing variable is reported with the key path
//! and line of the value. `environment_variables` from the same file are consulted before the
//! process environment (see [`with_overlay`]).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The prefix LiteLLM uses for environment references.
pub const ENV_PREFIX: &str = "os.environ/";

thread_local! {
    static OVERLAY: RefCell<BTreeMap<String, String>> = const { RefCell::new(BTreeMap::new()) };
}

/// Runs `f` with `vars` visible to `os.environ/` lookups, ahead of the process environment.
pub(crate) fn with_overlay<R>(vars: &BTreeMap<String, String>, f: impl FnOnce() -> R) -> R {
    OVERLAY.with(|o| *o.borrow_mut() = vars.clone());
    let out = f();
    OVERLAY.with(|o| o.borrow_mut().clear());
    out
}

fn lookup(var: &str) -> Option<String> {
    OVERLAY
        .with(|o| o.borrow().get(var).cloned())
        .or_else(|| std::env::var(var).ok())
}

/// A string value: literal, or read from an environment variable.
///
/// A reference to an unset variable is not an error (LiteLLM starts too); the value is then
/// absent and the variable's name is kept so the gateway can say which one is missing.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct EnvString {
    value: Option<String>,
    var: Option<String>,
}

impl EnvString {
    /// A literal value.
    pub fn literal(s: impl Into<String>) -> Self {
        EnvString {
            value: Some(s.into()),
            var: None,
        }
    }

    /// The resolved value, if any.
    pub fn get(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// The environment variable this value was read from, if it was.
    pub fn env_var(&self) -> Option<&str> {
        self.var.as_deref()
    }

    /// True when it names an environment variable that is not set.
    pub fn is_unset_env(&self) -> bool {
        self.var.is_some() && self.value.is_none()
    }
}

impl fmt::Debug for EnvString {
    // Values may be secrets (api keys, master key, database passwords): never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.var, &self.value) {
            (Some(var), Some(_)) => write!(f, "os.environ/{var}(set)"),
            (Some(var), None) => write!(f, "os.environ/{var}(unset)"),
            (None, Some(_)) => f.write_str("\"***\""),
            (None, None) => f.write_str("None"),
        }
    }
}

impl Serialize for EnvString {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.var {
            Some(var) => s.serialize_str(&format!("{ENV_PREFIX}{var}")),
            None => s.serialize_str("***"),
        }
    }
}

impl<'de> Deserialize<'de> for EnvString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = d.deserialize_any(ScalarText)?;
        Ok(match raw.strip_prefix(ENV_PREFIX) {
            Some(var) => {
                let value = lookup(var);
                if value.is_none() {
                    tracing::warn!(
                        variable = var,
                        "config references environment variable {var}, which is not set"
                    );
                }
                EnvString {
                    value,
                    var: Some(var.to_owned()),
                }
            }
            None => EnvString::literal(raw),
        })
    }
}

/// Reads any scalar as its text (YAML does not quote numbers; LiteLLM reads them as strings).
struct ScalarText;

impl Visitor<'_> for ScalarText {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number, a boolean or os.environ/VAR")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A number or boolean: literal, a numeric string, or `os.environ/VAR` holding one.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Scalar<T>(pub T);

impl<T> Deref for Scalar<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Serialize> Serialize for Scalar<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Scalar<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T> V<T>
        where
            T: FromStr,
            T::Err: fmt::Display,
        {
            fn parse<E: de::Error>(text: &str) -> Result<Scalar<T>, E> {
                let (text, from) = match text.strip_prefix(ENV_PREFIX) {
                    Some(var) => match lookup(var) {
                        Some(v) => (v, Some(var)),
                        None => {
                            return Err(E::custom(format!("environment variable {var} is not set")))
                        }
                    },
                    None => (text.to_owned(), None),
                };
                T::from_str(text.trim())
                    .map(Scalar)
                    .map_err(|e| match from {
                        Some(var) => E::custom(format!(
                            "environment variable {var} = {text:?} is not a valid {}: {e}",
                            short_type::<T>()
                        )),
                        None => E::custom(format!(
                            "{text:?} is not a valid {}: {e}",
                            short_type::<T>()
                        )),
                    })
            }
        }
        impl<T> Visitor<'_> for V<T>
        where
            T: FromStr,
            T::Err: fmt::Display,
        {
            type Value = Scalar<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a {} or os.environ/VAR", short_type::<T>())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Self::parse(v)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Self::parse(&v.to_string())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

fn short_type<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}
