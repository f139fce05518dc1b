//! OpenAI format in, Azure OpenAI out (`azure/<deployment>`).
//!
//! Azure speaks OpenAI's wire format: bodies, responses and streams are OpenAI's (see
//! [`crate::openai_openai`]). What differs is the address,
//! `{api_base}/openai/deployments/{deployment}/chat/completions?api-version=…`, and the auth: an
//! `api-key` header, or `Authorization: Bearer` for an Entra ID token (`litellm_params.
//! azure_ad_token`, which the router hands over as a key starting with `Bearer `).
//! Content-filter refusals come
//! back as OpenAI errors with code `content_filter`, which the router's content-policy fallbacks
//! recognise.

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Method};
use switchyard_types::{ChatCompletionRequest, EmbeddingRequest};

use crate::openai_openai::{self, OpenAi};
use crate::{
    ChatOutput, ChatProvider, ProviderError, StreamTranslator, Target, TranslateError,
    UpstreamRequest,
};

/// The API version sent when the deployment and `AZURE_API_VERSION` set none.
pub const DEFAULT_API_VERSION: &str = "2024-10-21";

/// The Azure OpenAI translation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Azure;

/// The chat completions URL of an Azure deployment.
pub fn chat_url(api_base: &str, deployment: &str, api_version: &str) -> String {
    let base = api_base.trim_end_matches('/');
    let base = base.strip_suffix("/openai").unwrap_or(base);
    if base.contains("/deployments/") {
        // A full deployment URL was configured.
        let sep = if base.contains('?') { '&' } else { '?' };
        return format!(
            "{}{sep}api-version={api_version}",
            openai_openai::chat_url(base)
        );
    }
    format!("{base}/openai/deployments/{deployment}/chat/completions?api-version={api_version}")
}

/// The legacy completions URL of an Azure deployment.
pub fn completions_url(target: &Target) -> String {
    let version = target.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION);
    chat_url(&target.api_base, &target.model, version).replacen(
        "/chat/completions",
        "/completions",
        1,
    )
}

/// Azure's headers: OpenAI's, with `api-key` (or a bearer Entra ID token) for the key.
pub fn headers(target: &Target) -> Result<Vec<(HeaderName, HeaderValue)>, TranslateError> {
    // OpenAI's headers without its Authorization, then Azure's key header.
    let plain = Target {
        api_key: None,
        organization: None,
        ..target.clone()
    };
    let mut h = openai_openai::headers(&plain)?;
    if let Some(key) = target.api_key.as_deref().filter(|k| !k.is_empty()) {
        let (name, value) = match key.strip_prefix("Bearer ") {
            Some(_) => (AUTHORIZATION, key.to_owned()),
            None => (HeaderName::from_static("api-key"), key.to_owned()),
        };
        let mut v = HeaderValue::try_from(value).map_err(|_| {
            TranslateError::Config("api_key has characters not allowed in a header".into())
        })?;
        v.set_sensitive(true);
        h.push((name, v));
    }
    Ok(h)
}

impl ChatProvider for Azure {
    fn chat_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<ChatCompletionRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let version = target.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: chat_url(&target.api_base, &target.model, version),
            headers: headers(target)?,
            body: openai_openai::request_body(target, request)?,
        })
    }

    fn chat_response(&self, target: &Target, body: Bytes) -> Result<ChatOutput, ProviderError> {
        OpenAi.chat_response(target, body)
    }

    fn chat_stream(&self, target: &Target, strip_usage: bool) -> Box<dyn StreamTranslator> {
        OpenAi.chat_stream(target, strip_usage)
    }

    fn error_response(&self, status: u16, body: &[u8]) -> ProviderError {
        let mut e = OpenAi.error_response(status, body);
        // Azure's content filter speaks of `content_filter`; OpenAI clients expect this code.
        if e.code.as_deref() == Some("content_filter") {
            e.code = Some("content_policy_violation".into());
        }
        e
    }

    fn embedding_request(
        &self,
        target: &Target,
        request: &switchyard_types::Verbatim<switchyard_types::EmbeddingRequest>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let version = target.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION);
        let chat = chat_url(&target.api_base, &target.model, version);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: chat.replacen("/chat/completions", "/embeddings", 1),
            headers: headers(target)?,
            body: openai_openai::embedding_body(target, request)?,
        })
    }

    fn embedding_response(
        &self,
        target: &Target,
        request: &EmbeddingRequest,
        body: Bytes,
    ) -> Result<ChatOutput, ProviderError> {
        OpenAi.embedding_response(target, request, body)
    }

    fn transcription_request(
        &self,
        target: &Target,
        translate: bool,
    ) -> Result<UpstreamRequest, TranslateError> {
        let version = target.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION);
        let path = if translate {
            "audio/translations"
        } else {
            "audio/transcriptions"
        };
        let mut h = headers(target)?;
        h.retain(|(k, _)| k != http::header::CONTENT_TYPE);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: chat_url(&target.api_base, &target.model, version).replacen(
                "chat/completions",
                path,
                1,
            ),
            headers: h,
            body: Bytes::new(),
        })
    }

    /// Images, speech and moderations under the deployment's URL.
    fn endpoint_request(
        &self,
        target: &Target,
        endpoint: crate::endpoints::Endpoint,
        request: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<UpstreamRequest, TranslateError> {
        let version = target.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION);
        let chat = chat_url(&target.api_base, &target.model, version);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: chat.replacen("chat/completions", endpoint.path(), 1),
            headers: headers(target)?,
            body: crate::endpoints::body(target, request)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_auth_follow_azure() {
        assert_eq!(
            chat_url("https://r.openai.azure.com/", "gpt4o-prod", "2024-10-21"),
            "https://r.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(
            chat_url("https://r.openai.azure.com/openai", "d", "v"),
            "https://r.openai.azure.com/openai/deployments/d/chat/completions?api-version=v"
        );
        assert_eq!(
            chat_url("https://gw.example/openai/deployments/d", "x", "v"),
            "https://gw.example/openai/deployments/d/chat/completions?api-version=v"
        );
        let t = Target {
            provider: "azure".into(),
            model: "d".into(),
            api_base: "https://r.openai.azure.com".into(),
            api_key: Some("azure-secret".into()),
            organization: Some("org".into()),
            ..Target::default()
        };
        let h = headers(&t).unwrap();
        assert!(h.iter().any(|(k, v)| k == "api-key" && v == "azure-secret"));
        assert!(!h
            .iter()
            .any(|(k, _)| k == AUTHORIZATION || k == "openai-organization"));
        let ad = Target {
            api_key: Some("Bearer eyJ-token".into()),
            ..t
        };
        assert!(headers(&ad)
            .unwrap()
            .iter()
            .any(|(k, v)| k == AUTHORIZATION && v == "Bearer eyJ-token"));
    }
}
