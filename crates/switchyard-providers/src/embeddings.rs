//! What every provider's embeddings translation shares: reading the inputs, and building the
//! OpenAI response (`float` or `base64`) from the provider's vectors. Each provider's own
//! request and response shapes live in its file, as its chat translation does.

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_types::{EmbeddingRequest, Usage};

use crate::{ChatOutput, ProviderError, Target, TranslateError};

/// The inputs as texts. Token-id inputs only OpenAI-format servers take.
pub fn texts<'a>(
    target: &Target,
    request: &'a EmbeddingRequest,
) -> Result<Vec<&'a str>, TranslateError> {
    let texts = request.input.texts().ok_or_else(|| {
        TranslateError::Invalid(format!(
            "{} takes text inputs only, not token ids",
            target.provider
        ))
    })?;
    if texts.is_empty() {
        return Err(TranslateError::Invalid("`input` must not be empty".into()));
    }
    Ok(texts)
}

/// Whether the client asked for base64 vectors.
pub fn wants_base64(request: &EmbeddingRequest) -> bool {
    request.encoding_format.as_deref() == Some("base64")
}

/// An unsupported parameter is an error unless `drop_params`.
pub fn refuse_unless_dropped(
    target: &Target,
    param: &str,
    set: bool,
) -> Result<(), TranslateError> {
    if set && !target.drop_params {
        return Err(TranslateError::UnsupportedParam {
            provider: target.provider.clone(),
            param: param.to_owned(),
        });
    }
    Ok(())
}

/// A string field of the request's extras (`input_type`, `task_type`).
pub fn extra_str<'a>(request: &'a EmbeddingRequest, key: &str) -> Option<&'a str> {
    request.extra.get(key).and_then(Value::as_str)
}

/// A vector as OpenAI's base64: little-endian f32s.
pub fn base64_vector(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for f in v {
        bytes.extend_from_slice(&f.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Embedding usage: prompt tokens only.
pub fn usage(prompt_tokens: u64) -> Usage {
    Usage {
        prompt_tokens,
        completion_tokens: 0,
        total_tokens: prompt_tokens,
        ..Usage::default()
    }
}

/// Reads `[[f32]]` from a JSON array of arrays of numbers.
pub fn vectors(v: Option<&Value>, what: &str) -> Result<Vec<Vec<f32>>, ProviderError> {
    let arr = v
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::malformed(format!("no {what} in the answer")))?;
    arr.iter().map(|x| vector(Some(x), what)).collect()
}

/// Reads `[f32]` from a JSON array of numbers.
pub fn vector(v: Option<&Value>, what: &str) -> Result<Vec<f32>, ProviderError> {
    v.and_then(Value::as_array)
        .ok_or_else(|| ProviderError::malformed(format!("{what} is not a list of numbers")))?
        .iter()
        .map(|n| {
            n.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| ProviderError::malformed(format!("{what} holds a non-number")))
        })
        .collect()
}

/// The OpenAI embeddings response for `vectors`, in input order. `prompt_tokens` is the
/// provider's count when it gave one.
pub fn response(
    model: &str,
    vectors: &[Vec<f32>],
    prompt_tokens: Option<u64>,
    base64: bool,
) -> Result<ChatOutput, ProviderError> {
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                json!(base64_vector(v))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    let n = prompt_tokens.unwrap_or(0);
    let body = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": n, "total_tokens": n},
    });
    Ok(ChatOutput {
        body: Bytes::from(serde_json::to_vec(&body).map_err(ProviderError::malformed)?),
        usage: prompt_tokens.map(usage),
    })
}

/// The JSON body of a request, `extra_body` merged.
pub fn body(
    target: &Target,
    mut body: serde_json::Map<String, Value>,
) -> Result<Bytes, TranslateError> {
    for (k, v) in &target.extra_body {
        body.insert(k.clone(), v.clone());
    }
    serde_json::to_vec(&Value::Object(body))
        .map(Bytes::from)
        .map_err(|e| TranslateError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        let s = base64_vector(&[1.0, -2.5]);
        let raw = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
        assert_eq!(
            raw,
            [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat()
        );
        let out = response("m", &[vec![0.5]], Some(3), false).unwrap();
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            v["data"][0],
            json!({"object": "embedding", "index": 0, "embedding": [0.5]})
        );
        assert_eq!(v["usage"]["prompt_tokens"], 3);
        assert_eq!(out.usage.unwrap().prompt_tokens, 3);
    }
}
