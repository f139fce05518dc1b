//! Requests in a provider's own format ([`Native`]) sent to deployments that take them as
//! they are: Anthropic Messages bodies to `anthropic/…`, legacy completions bodies to
//! OpenAI-format servers and Azure.

use switchyard_providers::{
    anthropic_anthropic, completions_openai, openai_azure, openai_openai, responses_openai,
    ChatProvider, Target, UpstreamRequest,
};

use crate::params::is_gateway_key;
use crate::{Format, GatewayError, Native};

/// A native call: the translator reading the answer, the upstream request, the answer's
/// format, and whether the usage chunk the gateway asked for is kept from the client.
type Call = (&'static dyn ChatProvider, UpstreamRequest, Format, bool);

/// How `native` goes to `target`, or `None` when the deployment takes the translated chat
/// request (or there is no native request).
pub(crate) fn call(
    native: Option<&Native>,
    target: &Target,
    translator: &'static dyn ChatProvider,
    strip_usage: bool,
) -> Result<Option<Call>, GatewayError> {
    let provider = target.provider.as_str();
    match native {
        None => Ok(None),
        Some(Native::Anthropic { body, beta }) if provider == "anthropic" => {
            let mut body = body.clone();
            body.retain(|k, _| k == "metadata" || !is_gateway_key(k));
            let up = anthropic_anthropic::messages_request(target, body, beta.as_deref())
                .map_err(GatewayError::from_translate)?;
            Ok(Some((
                &anthropic_anthropic::Native,
                up,
                Format::Anthropic,
                false,
            )))
        }
        Some(Native::Anthropic { .. }) => Ok(None),
        Some(Native::Completions { body, .. }) if switchyard_providers::is_openai_format(provider) => {
            let mut body = body.clone();
            body.retain(|k, _| !is_gateway_key(k));
            let (url, headers) = if provider == "azure" {
                (
                    openai_azure::completions_url(target),
                    openai_azure::headers(target).map_err(GatewayError::from_translate)?,
                )
            } else {
                (
                    completions_openai::completions_url(&target.api_base),
                    openai_openai::headers(target).map_err(GatewayError::from_translate)?,
                )
            };
            let up = completions_openai::upstream_request(target, body, url, headers)
                .map_err(GatewayError::from_translate)?;
            Ok(Some((translator, up, Format::OpenAiText, strip_usage)))
        }
        Some(Native::Responses { body, .. }) if provider == "openai" => {
            let mut body = body.clone();
            // LiteLLM's `metadata` (tags, spend-log metadata) is the gateway's here too.
            body.retain(|k, _| !is_gateway_key(k));
            let up = responses_openai::upstream_request(target, body)
                .map_err(GatewayError::from_translate)?;
            Ok(Some((
                &responses_openai::Native,
                up,
                Format::OpenAiResponses,
                false,
            )))
        }
        Some(Native::Responses {
            chat_refusal: Some(why),
            ..
        }) => Err(GatewayError::bad_request(format!(
            "{why}; `{provider}` is reached through chat completions, which cannot carry it"
        ))),
        Some(Native::Responses { .. }) => Ok(None),
        Some(Native::Completions {
            chat_refusal: Some(why),
            ..
        }) => Err(GatewayError::bad_request(format!(
            "{why} need an OpenAI-format deployment for /v1/completions; `{provider}` is reached through chat completions"
        ))),
        Some(Native::Completions { .. }) => Ok(None),
    }
}
