//! The smaller OpenAI endpoints: images, text-to-speech, moderations, and rerank (Cohere's
//! format, the de-facto standard for it). Each provider that serves one implements
//! [`crate::ChatProvider::endpoint_request`]; this module holds what they share: addresses,
//! the rerank translations for Jina- and Voyage-style servers, and what each answer counts
//! for pricing (tokens, images, characters, queries).

use bytes::Bytes;
use serde_json::{json, Map, Value};
use switchyard_types::Usage;

use crate::{ChatOutput, ProviderError, Target, TranslateError, UpstreamRequest};

/// One of the smaller endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/images/generations`.
    Images,
    /// `POST /v1/audio/speech` (audio streamed back).
    Speech,
    /// `POST /v1/moderations`.
    Moderations,
    /// `POST /v1/rerank` and `/v2/rerank` (Cohere's format).
    Rerank,
}

impl Endpoint {
    /// The path under an OpenAI-format base.
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Images => "images/generations",
            Endpoint::Speech => "audio/speech",
            Endpoint::Moderations => "moderations",
            Endpoint::Rerank => "rerank",
        }
    }

    /// The call type in spend logs (LiteLLM's names).
    pub fn call_type(self) -> &'static str {
        match self {
            Endpoint::Images => "aimage_generation",
            Endpoint::Speech => "aspeech",
            Endpoint::Moderations => "amoderation",
            Endpoint::Rerank => "arerank",
        }
    }
}

fn invalid(msg: impl Into<String>) -> TranslateError {
    TranslateError::Invalid(msg.into())
}

/// `{base}/{path}` for an OpenAI-format server.
pub fn url(api_base: &str, endpoint: Endpoint) -> String {
    format!("{}/{}", api_base.trim_end_matches('/'), endpoint.path())
}

/// The body with the deployment's model and `extra_body`.
pub fn body(target: &Target, request: &Map<String, Value>) -> Result<Bytes, TranslateError> {
    let mut b = request.clone();
    b.insert("model".into(), json!(target.model));
    crate::embeddings::body(target, b)
}

/// A Cohere-format rerank request's documents as texts.
fn documents(request: &Map<String, Value>) -> Result<Vec<String>, TranslateError> {
    request
        .get("documents")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("rerank needs `documents` (a list of strings or {text} objects)"))?
        .iter()
        .map(|d| match d {
            Value::String(s) => Ok(s.clone()),
            Value::Object(o) => o
                .get("text")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| invalid("a rerank document object needs `text`")),
            _ => Err(invalid(
                "rerank documents must be strings or {text} objects",
            )),
        })
        .collect()
}

/// A Cohere-format rerank request for a Jina- or Voyage-style server (`{base}/rerank`).
pub fn rerank_request(
    target: &Target,
    request: &Map<String, Value>,
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
) -> Result<UpstreamRequest, TranslateError> {
    let query = request
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("rerank needs `query` (a string)"))?;
    let docs = documents(request)?;
    let mut b = Map::new();
    b.insert("model".into(), json!(target.model));
    b.insert("query".into(), json!(query));
    b.insert("documents".into(), json!(docs));
    let top = request.get("top_n").cloned();
    let return_docs = request.get("return_documents").cloned();
    if target.provider == "voyage" {
        if let Some(t) = top {
            b.insert("top_k".into(), t);
        }
    } else if let Some(t) = top {
        b.insert("top_n".into(), t);
    }
    if let Some(r) = return_docs {
        b.insert("return_documents".into(), r);
    }
    Ok(UpstreamRequest {
        method: http::Method::POST,
        url: url(&target.api_base, Endpoint::Rerank),
        headers,
        body: crate::embeddings::body(target, b)?,
    })
}

/// A Jina- or Voyage-style rerank answer in Cohere's shape.
pub fn rerank_response(
    request: &Map<String, Value>,
    body: &[u8],
) -> Result<ChatOutput, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(ProviderError::malformed)?;
    let rows = v
        .get("results")
        .or_else(|| v.get("data"))
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::malformed("no results in the rerank answer"))?;
    let docs = documents(request).unwrap_or_default();
    let with_docs = request.get("return_documents").and_then(Value::as_bool) == Some(true);
    let results: Vec<Value> = rows
        .iter()
        .map(|r| {
            let index = r.get("index").and_then(Value::as_u64).unwrap_or(0);
            let mut out = json!({"index": index, "relevance_score": r.get("relevance_score").cloned().unwrap_or(json!(0.0))});
            if with_docs {
                let text = r
                    .pointer("/document/text")
                    .and_then(Value::as_str)
                    .or_else(|| r.get("document").and_then(Value::as_str))
                    .map(str::to_owned)
                    .or_else(|| usize::try_from(index).ok().and_then(|i| docs.get(i).cloned()));
                out["document"] = json!({"text": text});
            }
            out
        })
        .collect();
    let tokens = v.pointer("/usage/total_tokens").and_then(Value::as_u64);
    let out = json!({
        "id": v.get("id").cloned().unwrap_or_else(|| json!(format!("rerank-{}", crate::now_secs()))),
        "results": results,
        "meta": {"billed_units": {"search_units": 1, "total_tokens": tokens}},
    });
    Ok(ChatOutput {
        body: Bytes::from(serde_json::to_vec(&out).map_err(ProviderError::malformed)?),
        usage: Some(units(tokens.unwrap_or(0), 1.0)),
    })
}

/// Usage of `tokens` prompt tokens and `units` billable units.
pub fn units(tokens: u64, units: f64) -> Usage {
    let mut u = crate::embeddings::usage(tokens);
    u.extra.insert(BILLABLE_UNITS.into(), json!(units));
    u
}

/// The usage key for images, characters, seconds or queries: the pricing crate's
/// `BILLABLE_UNITS` (this crate does not depend on pricing).
pub const BILLABLE_UNITS: &str = "billable_units";

/// What an OpenAI-format answer of `endpoint` counts: image tokens and images, characters
/// spoken (from the request), Cohere search units.
pub fn usage(endpoint: Endpoint, request: &Map<String, Value>, body: &[u8]) -> Option<Usage> {
    match endpoint {
        Endpoint::Speech => {
            let chars = request
                .get("input")
                .and_then(Value::as_str)
                .map_or(0, |s| s.chars().count());
            Some(units(0, chars as f64))
        }
        Endpoint::Images => {
            let v: Value = serde_json::from_slice(body).ok()?;
            let images = v.get("data").and_then(Value::as_array).map_or(0, Vec::len);
            let mut u = units(0, images as f64);
            if let Some(t) = v.get("usage") {
                u.prompt_tokens = t.get("input_tokens").and_then(Value::as_u64).unwrap_or(0);
                u.completion_tokens = t.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
                u.total_tokens = u.prompt_tokens + u.completion_tokens;
            }
            Some(u)
        }
        Endpoint::Rerank => {
            let v: Value = serde_json::from_slice(body).ok()?;
            let searches = v
                .pointer("/meta/billed_units/search_units")
                .and_then(Value::as_f64)
                .unwrap_or(1.0);
            Some(units(0, searches))
        }
        Endpoint::Moderations => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rerank_translations() {
        let req: Map<String, Value> = serde_json::from_str(
            r#"{"model":"r","query":"q","documents":["a",{"text":"b"}],"top_n":1,"return_documents":true}"#,
        )
        .unwrap();
        let t = Target {
            provider: "voyage".into(),
            model: "rerank-2".into(),
            api_base: "http://v/v1".into(),
            ..Target::default()
        };
        let up = rerank_request(&t, &req, Vec::new()).unwrap();
        assert_eq!(up.url, "http://v/v1/rerank");
        let sent: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(sent["documents"], json!(["a", "b"]));
        assert_eq!(sent["top_k"], 1);
        let out = rerank_response(
            &req,
            br#"{"object":"list","data":[{"index":1,"relevance_score":0.9}],"usage":{"total_tokens":12}}"#,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            v["results"][0],
            json!({"index": 1, "relevance_score": 0.9, "document": {"text": "b"}})
        );
        assert_eq!(out.usage.unwrap().prompt_tokens, 12);
        let s = usage(
            Endpoint::Speech,
            &serde_json::from_str(r#"{"input":"héllo"}"#).unwrap(),
            b"",
        );
        assert_eq!(s.unwrap().extra["billable_units"], 5.0);
    }
}
