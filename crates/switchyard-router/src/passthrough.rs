//! Pass-through routes: a provider-native request sent with a configured deployment's
//! credentials (or the provider's environment key), answered as the provider answers.

use std::sync::Arc;

use crate::pool::UpstreamBody;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use switchyard_providers::UpstreamRequest;

use crate::{deployment, Backend, CallMeta, Deployment, GatewayError, Router};

/// `scheme://host[:port]` of a base URL: pass-through paths are the provider's full paths.
fn origin(api_base: &str) -> &str {
    let after = api_base.find("://").map_or(0, |i| i + 3);
    match api_base[after..].find('/') {
        Some(i) => &api_base[..after + i],
        None => api_base,
    }
}

/// The provider's credentials as headers.
fn auth_headers(
    provider: &str,
    key: Option<&str>,
) -> Result<Vec<(HeaderName, HeaderValue)>, GatewayError> {
    let Some(key) = key.filter(|k| !k.is_empty()) else {
        return Ok(Vec::new());
    };
    let (name, value) = match provider {
        "anthropic" => (HeaderName::from_static("x-api-key"), key.to_owned()),
        "gemini" => (HeaderName::from_static("x-goog-api-key"), key.to_owned()),
        "azure" if !key.starts_with("Bearer ") => {
            (HeaderName::from_static("api-key"), key.to_owned())
        }
        "azure" => (http::header::AUTHORIZATION, key.to_owned()),
        _ => (http::header::AUTHORIZATION, format!("Bearer {key}")),
    };
    let mut v = HeaderValue::try_from(value)
        .map_err(|_| GatewayError::misconfigured("the provider key is not a valid header"))?;
    v.set_sensitive(true);
    Ok(vec![(name, v)])
}

impl Router {
    /// The deployment a pass-through request to `provider` uses: the configured one serving
    /// `model` when there is one, else the provider's first, else one from the environment.
    pub fn pass_through_deployment(
        &self,
        provider: &str,
        model: Option<&str>,
    ) -> Option<Arc<Deployment>> {
        let of_provider = || {
            self.all_deployments()
                .filter(|d| d.target.provider == provider && matches!(d.backend, Backend::Http(_)))
        };
        if let Some(m) = model {
            if let Some(d) = of_provider().find(|d| d.target.model == m || d.model_name == m) {
                return Some(Arc::clone(d));
            }
        }
        if let Some(d) = of_provider().next() {
            return Some(Arc::clone(d));
        }
        // From the environment only with a key: never send a client's request unauthenticated.
        let model = model.unwrap_or(provider);
        deployment::direct(&self.config, &self.prices, provider, model, provider)
            .filter(|d| d.target.api_key.is_some())
            .map(Arc::new)
    }

    /// Sends `path_and_query` (the provider's own path) to the deployment's host with its
    /// credentials; the client's `headers` are those worth forwarding (content type, API
    /// version and beta flags). Returns the response head and body of a 2xx answer.
    pub async fn pass_through(
        &self,
        d: &Deployment,
        method: Method,
        path_and_query: &str,
        mut headers: Vec<(HeaderName, HeaderValue)>,
        body: Bytes,
        opts: &crate::CallOptions,
    ) -> Result<(CallMeta, http::Response<UpstreamBody>), GatewayError> {
        let Backend::Http(translator) = d.backend else {
            return Err(GatewayError::bad_request(
                "a mock deployment cannot serve a pass-through request",
            ));
        };
        let target = self.authed_target(d).await?;
        headers.extend(auth_headers(&target.provider, target.api_key.as_deref())?);
        if target.provider == "anthropic" && !headers.iter().any(|(k, _)| k == "anthropic-version")
        {
            headers.push((
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(switchyard_providers::openai_anthropic::API_VERSION),
            ));
        }
        let url = format!(
            "{}/{}",
            origin(&target.api_base),
            path_and_query.trim_start_matches('/')
        );
        let up = UpstreamRequest {
            method,
            url,
            headers,
            body,
        };
        let started = std::time::Instant::now();
        // The span covers the wait for the response head; the body streams to the client.
        let resp = opts
            .trace
            .attempt(d, 0)
            .once(self.client.forward(&target, translator, up, d.timeout))
            .await?;
        let meta = CallMeta {
            model_group: d.model_name.clone(),
            deployment_id: d.id.clone(),
            provider: target.provider.clone(),
            model: target.model.clone(),
            api_base: target.api_base.clone(),
            upstream_latency: started.elapsed(),
            unpriced: d.price.is_none(),
            ..CallMeta::default()
        };
        Ok((meta, resp))
    }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://api.openai.com/v1"),
            "https://api.openai.com"
        );
        assert_eq!(origin("http://127.0.0.1:9/v1"), "http://127.0.0.1:9");
        assert_eq!(origin("https://x.example"), "https://x.example");
    }
}
