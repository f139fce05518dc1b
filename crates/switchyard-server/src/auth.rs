//! Ingress authentication: where a request carries its key. Checking the key (the master key
//! in constant time, virtual keys by hash) is [`switchyard_governance::Governor::authenticate`].

use axum::http::{HeaderMap, HeaderName};

/// Where keys come from.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    extra_header: Option<HeaderName>,
}

/// Headers a key may come in, besides `Authorization: Bearer`.
const KEY_HEADERS: &[&str] = &[
    "x-litellm-api-key",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
];

impl Auth {
    /// Keys in the usual headers and in an optional operator-chosen one
    /// (`general_settings.litellm_key_header_name`).
    pub fn new(extra_header: Option<HeaderName>) -> Self {
        Auth { extra_header }
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
    fn finds_the_key_in_every_supported_header() {
        let auth = Auth::new(Some(HeaderName::from_static("x-my-key")));
        for h in [
            headers(&[("authorization", "Bearer sk-1")]),
            headers(&[("authorization", "bearer  sk-1")]),
            headers(&[("x-api-key", "sk-1")]),
            headers(&[("x-litellm-api-key", "Bearer sk-1")]),
            headers(&[("x-my-key", "sk-1")]),
        ] {
            assert_eq!(auth.presented_key(&h), Some("sk-1"), "{h:?}");
        }
        assert_eq!(auth.presented_key(&HeaderMap::new()), None);
    }
}
