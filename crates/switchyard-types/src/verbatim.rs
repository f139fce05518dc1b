//! A parsed request that keeps the client's own bytes, so an unchanged request is forwarded as
//! it was sent instead of being serialised again.
//!
//! The bytes stay valid only while the parsed value is unchanged, and the type enforces it:
//! every `&mut` access ([`DerefMut`], [`Verbatim::get_mut`]) drops them, so code that changes
//! the request (a guardrail, a redaction, a default) cannot forget to. The few changes the
//! gateway makes to every request keep them, because the forwarded body is rebuilt with those
//! changes ([`Verbatim::forward_body`]):
//! - the model id, which the forwarded body always takes from its caller;
//! - `stream_options`, written from the parsed value;
//! - unmodelled fields removed with [`Verbatim::remove_extra`] (the gateway's own
//!   `metadata`, `fallbacks`, …), which the forwarded body leaves out.

use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{ChatCompletionRequest, EmbeddingRequest, JsonObject, StreamOptions};

/// A parsed request and, while it is unchanged, the bytes it was parsed from.
#[derive(Debug, Clone, Default)]
pub struct Verbatim<T> {
    value: T,
    raw: Option<Bytes>,
    /// Top-level keys removed from the unmodelled fields since parsing.
    removed: Vec<String>,
}

impl<T> From<T> for Verbatim<T> {
    /// A request built in code: it has no client bytes, and is always serialised.
    fn from(value: T) -> Self {
        Verbatim {
            value,
            raw: None,
            removed: Vec::new(),
        }
    }
}

impl<T: DeserializeOwned> Verbatim<T> {
    /// Parses `bytes` (a JSON object) and keeps them.
    pub fn parse(bytes: Bytes) -> Result<Self, serde_json::Error> {
        let value = serde_json::from_slice(&bytes)?;
        Ok(Verbatim {
            value,
            raw: Some(bytes),
            removed: Vec::new(),
        })
    }
}

impl<T> Verbatim<T> {
    /// The client's bytes, while the parsed value is unchanged.
    pub fn raw(&self) -> Option<&Bytes> {
        self.raw.as_ref()
    }

    /// The parsed value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The parsed value, to change: the client's bytes no longer describe it and are dropped.
    pub fn get_mut(&mut self) -> &mut T {
        self.raw = None;
        &mut self.value
    }

    /// The parsed value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Verbatim<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Verbatim<T> {
    /// As [`Verbatim::get_mut`]: drops the client's bytes.
    fn deref_mut(&mut self) -> &mut T {
        self.get_mut()
    }
}

/// A request whose client bytes can be forwarded: it names a model, keeps the fields it does
/// not model in a map, and says which fields a forwarded body writes from the parsed value.
pub trait Forwardable {
    /// The model name.
    fn model_mut(&mut self) -> &mut String;
    /// The fields the type does not model.
    fn extra(&self) -> &JsonObject;
    /// The same, to remove from.
    fn extra_mut(&mut self) -> &mut JsonObject;
    /// Top-level keys a forwarded body writes from the parsed value, not the client's bytes.
    const REWRITTEN: &'static [&'static [u8]] = &[];
    /// Writes those members (each as `,"key":value`) after the others; `None` on failure.
    fn write_rewritten(&self, _out: &mut Vec<u8>) -> Option<()> {
        Some(())
    }
}

/// The accessors of a request type with `model` and `extra` fields.
macro_rules! model_and_extra {
    () => {
        fn model_mut(&mut self) -> &mut String {
            &mut self.model
        }
        fn extra(&self) -> &JsonObject {
            &self.extra
        }
        fn extra_mut(&mut self) -> &mut JsonObject {
            &mut self.extra
        }
    };
}

impl Forwardable for ChatCompletionRequest {
    model_and_extra!();
    const REWRITTEN: &'static [&'static [u8]] = &[b"stream_options"];
    fn write_rewritten(&self, out: &mut Vec<u8>) -> Option<()> {
        if let Some(options) = &self.stream_options {
            out.extend_from_slice(b",\"stream_options\":");
            serde_json::to_writer(&mut *out, options).ok()?;
        }
        Some(())
    }
}

impl Forwardable for EmbeddingRequest {
    model_and_extra!();
}

impl Verbatim<ChatCompletionRequest> {
    /// `stream_options`, to change. The client's bytes are kept: the forwarded body writes
    /// `stream_options` from the parsed value.
    pub fn stream_options_mut(&mut self) -> &mut Option<StreamOptions> {
        &mut self.value.stream_options
    }
}

impl<T: Forwardable> Verbatim<T> {
    /// The model name, to rewrite. The client's bytes are kept: the forwarded body takes its
    /// model id from [`Verbatim::forward_body`]'s caller, never from them.
    pub fn model_mut(&mut self) -> &mut String {
        self.value.model_mut()
    }

    /// Removes an unmodelled field. The client's bytes are kept: the forwarded body leaves
    /// the field out.
    pub fn remove_extra(&mut self, key: &str) -> Option<Value> {
        let v = self.value.extra_mut().remove(key)?;
        self.removed.push(key.to_owned());
        Some(v)
    }

    /// The client's bytes as a body for an OpenAI-format upstream: `model` set to `model`,
    /// the fields the type rewrites ([`Forwardable::REWRITTEN`]: a chat request's
    /// `stream_options`) as the parsed value holds them, removed fields left out, every other
    /// member copied as sent.
    ///
    /// `None` (serialise the parsed value instead) when there are no bytes, when a key is
    /// written with escapes (it would need decoding to be matched), or when `refuse` holds for
    /// a key present (a parameter the caller must rewrite).
    pub fn forward_body(&self, model: &str, refuse: impl Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
        let raw = self.raw.as_deref()?;
        let mut out = Vec::with_capacity(raw.len() + model.len() + 48);
        out.extend_from_slice(b"{\"model\":");
        serde_json::to_writer(&mut out, model).ok()?;
        let mut i = skip_ws(raw, 0);
        if raw.get(i) != Some(&b'{') {
            return None;
        }
        i = skip_ws(raw, i + 1);
        if raw.get(i) != Some(&b'}') {
            loop {
                if raw.get(i) != Some(&b'"') {
                    return None;
                }
                let start = i;
                let key_end = string_end(raw, i)?;
                // Compared as bytes: the parse that kept them checked they are UTF-8.
                let key = raw.get(start + 1..key_end - 1)?;
                if key.contains(&b'\\') {
                    return None;
                }
                if refuse(key) {
                    return None;
                }
                i = skip_ws(raw, key_end);
                if raw.get(i) != Some(&b':') {
                    return None;
                }
                let end = value_end(raw, skip_ws(raw, i + 1))?;
                let rewritten = key == b"model" || T::REWRITTEN.contains(&key);
                if !rewritten && !self.removed.iter().any(|r| r.as_bytes() == key) {
                    out.push(b',');
                    out.extend_from_slice(raw.get(start..end)?);
                }
                i = skip_ws(raw, end);
                match raw.get(i)? {
                    b',' => i = skip_ws(raw, i + 1),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.value.write_rewritten(&mut out)?;
        out.push(b'}');
        Some(out)
    }
}

fn skip_ws(raw: &[u8], mut i: usize) -> usize {
    while raw
        .get(i)
        .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// The index after the string opening at `i`.
fn string_end(raw: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = j + memchr::memchr2(b'"', b'\\', raw.get(j..)?)?;
        if raw[k] == b'"' {
            return Some(k + 1);
        }
        j = k + 2;
    }
}

/// The index after the value starting at `i`.
fn value_end(raw: &[u8], i: usize) -> Option<usize> {
    match raw.get(i)? {
        b'"' => string_end(raw, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match raw.get(j)? {
                    b'"' => {
                        j = string_end(raw, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while raw
                .get(j)
                .is_some_and(|b| !matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(s: &str) -> Verbatim<ChatCompletionRequest> {
        Verbatim::parse(Bytes::copy_from_slice(s.as_bytes())).unwrap()
    }

    fn forwarded(v: &Verbatim<ChatCompletionRequest>, model: &str) -> String {
        String::from_utf8(v.forward_body(model, |_| false).unwrap()).unwrap()
    }

    /// The forwarded body means what serialising the parsed value would.
    fn same_as_serialised(v: &Verbatim<ChatCompletionRequest>, model: &str) {
        let got: Value = serde_json::from_str(&forwarded(v, model)).unwrap();
        let mut want = v.get().clone();
        want.model = model.to_owned();
        let want = serde_json::to_value(&want).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn an_unchanged_request_is_forwarded_as_sent_with_the_model_id() {
        let body = r#" { "model" : "group", "messages":[{"role":"user","content":"a \"quoted\" \\ {[ text"}],
            "temperature": 0.70, "vendor": {"nested": [1, {"x": "}"}]}, "n":1 } "#;
        let v = parse(body);
        let out = forwarded(&v, "gpt-4o");
        assert!(
            out.starts_with(r#"{"model":"gpt-4o","messages":[{"role":"user","#),
            "{out}"
        );
        // Members are copied byte for byte: the number keeps its written form.
        assert!(out.contains(r#""temperature": 0.70"#), "{out}");
        assert!(
            out.contains(r#""vendor": {"nested": [1, {"x": "}"}]}"#),
            "{out}"
        );
        same_as_serialised(&v, "gpt-4o");
    }

    #[test]
    fn the_gateways_own_changes_are_rebuilt_into_the_body() {
        let mut v = parse(
            r#"{"model":"g","messages":[{"role":"user","content":"hi"}],"stream":true,
                "stream_options":{"include_usage":false,"other":1},"metadata":{"tags":["a"]},
                "num_retries":2,"seed":7}"#,
        );
        *v.model_mut() = "renamed".into();
        v.stream_options_mut().as_mut().unwrap().include_usage = Some(true);
        assert!(v.remove_extra("metadata").is_some());
        assert!(v.remove_extra("num_retries").is_some());
        assert!(v.remove_extra("absent").is_none());
        assert!(v.raw().is_some(), "the exempt changes keep the bytes");
        let out = forwarded(&v, "deployment-id");
        assert!(
            !out.contains("metadata") && !out.contains("num_retries"),
            "{out}"
        );
        assert!(!out.contains("renamed") && !out.contains(r#""g""#), "{out}");
        same_as_serialised(&v, "deployment-id");

        // Stream options the gateway added to a request without them.
        let mut v = parse(r#"{"model":"g","messages":[],"stream":true}"#);
        v.stream_options_mut()
            .get_or_insert_with(StreamOptions::default)
            .include_usage = Some(true);
        assert_eq!(
            forwarded(&v, "m"),
            r#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#
        );
        // And put back.
        *v.stream_options_mut() = None;
        assert_eq!(
            forwarded(&v, "m"),
            r#"{"model":"m","messages":[],"stream":true}"#
        );
    }

    #[test]
    fn any_other_change_drops_the_bytes() {
        let mut v = parse(r#"{"model":"g","messages":[{"role":"user","content":"secret"}]}"#);
        v.messages.clear();
        assert!(v.raw().is_none());
        assert!(v.forward_body("m", |_| false).is_none());

        let mut v = parse(r#"{"model":"g","messages":[],"user":"u"}"#);
        v.get_mut().user = None;
        assert!(v.forward_body("m", |_| false).is_none());

        let v: Verbatim<ChatCompletionRequest> = ChatCompletionRequest::default().into();
        assert!(v.forward_body("m", |_| false).is_none());
    }

    #[test]
    fn keys_it_cannot_match_or_must_not_copy_fall_back_to_serialising() {
        // `temperature` written with an escape: serde decodes it, a byte match would not.
        let v = parse(r#"{"model":"g","messages":[],"temp\u0065rature":1}"#);
        assert_eq!(v.temperature, Some(1.0));
        assert!(v.forward_body("m", |_| false).is_none());
        // A parameter the caller must rewrite.
        let v = parse(r#"{"model":"g","messages":[],"logprobs":null}"#);
        assert!(v.forward_body("m", |k| k == b"logprobs").is_none());
        assert!(v.forward_body("m", |k| k == b"seed").is_some());
    }

    #[test]
    fn an_embedding_request_forwards_the_same_way() {
        let mut v: Verbatim<EmbeddingRequest> = Verbatim::parse(Bytes::from_static(
            br#"{"input":["a","b"],"model":"g","encoding_format":"float","tags":["t"],"stream_options":1}"#,
        ))
        .unwrap();
        *v.model_mut() = "other".into();
        assert!(v.remove_extra("tags").is_some());
        let out = String::from_utf8(v.forward_body("emb-id", |_| false).unwrap()).unwrap();
        // No field of an embedding request is rewritten: even an odd `stream_options` is
        // the client's own, copied.
        assert_eq!(
            out,
            r#"{"model":"emb-id","input":["a","b"],"encoding_format":"float","stream_options":1}"#
        );
        v.input = crate::EmbeddingInput::Text("changed".into());
        assert!(v.forward_body("emb-id", |_| false).is_none());
    }

    #[test]
    fn odd_values_scan() {
        assert_eq!(value_end(b"-1.5e3,", 0), Some(6));
        assert_eq!(value_end(br#""a\\"x"#, 0), Some(5));
        assert_eq!(value_end(br#"[[],{"a":"]"}]"#, 0), Some(14));
        assert_eq!(value_end(b"[1,", 0), None);
        assert_eq!(value_end(br#""open"#, 0), None);
        assert_eq!(value_end(br#""ends in \"#, 0), None);
        // Strings short and long, with escapes.
        for n in [0, 1, 14, 15, 16, 17, 40] {
            let body = "x".repeat(n);
            for s in [format!(r#""{body}""#), format!(r#""{body}\"\\{body}""#)] {
                assert_eq!(value_end(s.as_bytes(), 0), Some(s.len()), "{s}");
                let open = &s[..s.len() - 1];
                assert_eq!(value_end(open.as_bytes(), 0), None, "{open}");
            }
        }
        let v = parse(r#"{"model":"g","messages":[]}"#);
        assert_eq!(forwarded(&v, "m"), r#"{"model":"m","messages":[]}"#);
    }
}
