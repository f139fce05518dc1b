//! OpenAI format in, Vertex AI's Gemini models out (`vertex_ai/gemini-…`).
//!
//! Vertex serves the same `generateContent` schema as the Gemini API, so bodies, responses,
//! streams and errors are [`crate::openai_gemini`]'s. What differs: the address
//! (`{api_base}/models/{model}:generateContent`, where the router has made `api_base`
//! `https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/publishers/google`)
//! and the auth, an OAuth access token (`Authorization: Bearer`) that the router obtains from
//! the deployment's service account and hands over as the key.

use bytes::Bytes;
use http::Method;
use serde_json::{json, Map, Value};
use switchyard_types::{ChatCompletionRequest, EmbeddingRequest};

use crate::openai_gemini::{self, Gemini};
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamTranslator, Target, TranslateError,
    UpstreamRequest,
};

/// The Vertex AI translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vertex;

/// The model method URL under a Vertex publisher base.
pub fn url(api_base: &str, model: &str, stream: bool) -> String {
    let base = api_base.trim_end_matches('/');
    if stream {
        format!("{base}/models/{model}:streamGenerateContent?alt=sse")
    } else {
        format!("{base}/models/{model}:generateContent")
    }
}

/// The publisher base for a project and location.
pub fn api_base(project: &str, location: &str) -> String {
    let host = if location == "global" {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{location}-aiplatform.googleapis.com")
    };
    format!("{host}/v1/projects/{project}/locations/{location}/publishers/google")
}

impl ChatProvider for Vertex {
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let body = openai_gemini::request_body(target, request)?;
        Ok(UpstreamRequest {
            method: Method::POST,
            url: url(&target.api_base, &target.model, request.is_stream()),
            headers: crate::bearer_json_headers(target)?,
            body: Bytes::from(
                serde_json::to_vec(&body).map_err(|e| TranslateError::Invalid(e.to_string()))?,
            ),
        })
    }

    fn chat_response(&self, target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        Gemini.chat_response(target, body)
    }

    fn chat_stream(&self, target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator> {
        Gemini.chat_stream(target, strip_usage)
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        Gemini.error_response(status, body)
    }

    /// `:predict` with one instance per input (`task_type` kept), `outputDimensionality`
    /// from `dimensions`; token counts come back in each prediction's statistics.
    fn embedding_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<switchyard_types::EmbeddingRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let texts = crate::embeddings::texts(target, request)?;
        let task = crate::embeddings::extra_str(request, "task_type");
        let instances: Vec<Value> = texts
            .iter()
            .map(|t| match task {
                Some(task) => json!({"content": t, "task_type": task}),
                None => json!({"content": t}),
            })
            .collect();
        let mut body = Map::new();
        body.insert("instances".into(), Value::Array(instances));
        if let Some(d) = request.dimensions {
            body.insert("parameters".into(), json!({"outputDimensionality": d}));
        }
        let base = target.api_base.trim_end_matches('/');
        Ok(UpstreamRequest {
            method: Method::POST,
            url: format!("{base}/models/{}:predict", target.model),
            headers: crate::bearer_json_headers(target)?,
            body: crate::embeddings::body(target, body)?,
        })
    }

    fn embedding_response(
        &self,
        target: &Target,
        request: &EmbeddingRequest,
        body: Bytes,
    ) -> Result<ChatOutput, ProviderError> {
        let v: Value = serde_json::from_slice(&body).map_err(ProviderError::malformed)?;
        let predictions = v
            .get("predictions")
            .and_then(Value::as_array)
            .ok_or_else(|| ProviderError::malformed("no predictions in the answer"))?;
        let mut vectors = Vec::with_capacity(predictions.len());
        let mut tokens = None::<u64>;
        for p in predictions {
            vectors.push(crate::embeddings::vector(
                p.pointer("/embeddings/values"),
                "embeddings.values",
            )?);
            if let Some(n) = p
                .pointer("/embeddings/statistics/token_count")
                .and_then(Value::as_f64)
            {
                tokens = Some(tokens.unwrap_or(0) + n as u64);
            }
        }
        crate::embeddings::response(
            &target.model,
            &vectors,
            tokens,
            crate::embeddings::wants_base64(request),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertex_addresses_and_bearer_auth() {
        assert_eq!(
            api_base("proj", "europe-west4"),
            "https://europe-west4-aiplatform.googleapis.com/v1/projects/proj/locations/europe-west4/publishers/google"
        );
        assert!(api_base("p", "global").starts_with("https://aiplatform.googleapis.com/"));
        let t = Target {
            provider: "vertex_ai".into(),
            model: "gemini-2.5-pro".into(),
            api_base: api_base("p", "us-central1"),
            api_key: Some("ya29.token".into()),
            ..Target::default()
        };
        let req: ChatCompletionRequest = serde_json::from_value(serde_json::json!({"model": "x", "stream": true, "messages": [{"role": "user", "content": "hi"}]})).unwrap();
        let up = Vertex.chat_request(&t, &req.into()).unwrap();
        assert!(up
            .url
            .ends_with("/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse"));
        assert!(up
            .headers
            .iter()
            .any(|(k, v)| k == http::header::AUTHORIZATION && v == "Bearer ya29.token"));
    }
}
