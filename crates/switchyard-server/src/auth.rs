//! Ingress authentication: the master key, compared in constant time.

use axum::http::{HeaderMap, HeaderName};
use subtle::ConstantTimeEq;
use switchyard_router::GatewayError;

/// Who may call the gateway.
#[derive(Clone, Default)]
pub struct Auth {
    master_key: Option<String>,
    extra_header: Option<HeaderName>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("master_key", &self.master_key.as_ref().map(|_| "***"))
            .field("extra_header", &self.extra_header)
            .finish()
    }
}

/// Headers a key may come in, besides `Authorization: Bearer`.
const KEY_HEADERS: &[&str] = &["x-litellm-api-key", "x-api-key", "api-key"];

impl Auth {
    /// Auth with an optional master key and an optional operator-chosen key header
    /// (`general_settings.litellm_key_header_name`).
    pub fn new(master_key: Option<String>, extra_header: Option<HeaderName>) -> Self {
        Auth {
            master_key: master_key.filter(|k| !k.is_empty()),
            extra_header,
        }
    }

    /// Whether a key is required.
    pub fn enabled(&self) -> bool {
        self.master_key.is_some()
    }

    /// The key a request carries, if any.
    pub fn presented_key<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        if let Some(h) = &self.extra_header {
            if let Some(v) = header(h.as_str()) {
                return Some(strip_bearer(v));
            }
        }
        if let Some(v) = header("authorization") {
            return Some(strip_bearer(v));
        }
        KEY_HEADERS.iter().find_map(|h| header(h)).map(strip_bearer)
    }

    /// Checks a request's headers. `Ok` when auth is off or the key matches.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), GatewayError> {
        let Some(master) = &self.master_key else {
            return Ok(());
        };
        let Some(key) = self.presented_key(headers) else {
            return Err(GatewayError::unauthorized(
                "Authentication Error, No api key passed in.",
            ));
        };
        if bool::from(key.as_bytes().ct_eq(master.as_bytes())) {
            Ok(())
        } else {
            Err(GatewayError::unauthorized(
                "Authentication Error, Invalid proxy server token passed. Pass the master key or a valid virtual key as `Authorization: Bearer <key>`.",
            ))
        }
    }
}

fn strip_bearer(v: &str) -> &str {
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => v[7..].trim(),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn accepts_the_key_in_every_supported_header() {
        let auth = Auth::new(
            Some("sk-1".into()),
            Some(HeaderName::from_static("x-my-key")),
        );
        for h in [
            headers(&[("authorization", "Bearer sk-1")]),
            headers(&[("authorization", "bearer  sk-1")]),
            headers(&[("x-api-key", "sk-1")]),
            headers(&[("x-litellm-api-key", "Bearer sk-1")]),
            headers(&[("x-my-key", "sk-1")]),
        ] {
            assert!(auth.check(&h).is_ok(), "{h:?}");
        }
    }

    #[test]
    fn rejects_missing_and_wrong_keys() {
        let auth = Auth::new(Some("sk-1".into()), None);
        let e = auth.check(&HeaderMap::new()).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("No api key"));
        assert!(auth
            .check(&headers(&[("authorization", "Bearer sk-2")]))
            .is_err());
        assert!(auth
            .check(&headers(&[("authorization", "Bearer sk-")]))
            .is_err());
        assert!(auth
            .check(&headers(&[("authorization", "Bearer sk-11")]))
            .is_err());
    }

    #[test]
    fn open_without_a_master_key() {
        assert!(Auth::new(None, None).check(&HeaderMap::new()).is_ok());
        assert!(!Auth::new(Some(String::new()), None).enabled());
    }
}
