//! Tracing upstream attempts: one OpenTelemetry span per attempt (GenAI semantic conventions,
//! a child of the request's span), and the W3C trace context sent upstream with it.
//!
//! When the gateway exports no traces, the `traceparent` and `tracestate` a client sent are
//! passed upstream unchanged, so a trace the client started still reaches the provider.

use std::future::Future;
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _};
use opentelemetry::{Context, KeyValue};
use switchyard_types::Usage;

use crate::{Deployment, GatewayError};

/// The W3C trace context headers.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// See [`TRACEPARENT`].
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Headers every upstream request of the current attempt carries.
type Headers = Arc<[(HeaderName, HeaderValue)]>;

tokio::task_local! {
    static UPSTREAM: Headers;
}

/// Adds the current attempt's trace context to an upstream request's headers.
pub(crate) fn add_upstream_headers(headers: &mut Vec<(HeaderName, HeaderValue)>) {
    let _ = UPSTREAM.try_with(|h| {
        headers.retain(|(k, _)| k != TRACEPARENT && k != TRACESTATE);
        headers.extend(h.iter().cloned());
    });
}

/// How a call is traced.
#[derive(Clone, Default)]
pub struct Trace {
    /// The tracer and the request span's context, when the gateway exports traces.
    pub otel: Option<(Arc<BoxedTracer>, Context)>,
    /// `traceparent` and `tracestate` as the client sent them.
    pub incoming: Vec<(HeaderName, HeaderValue)>,
    /// The GenAI operation (`chat`, `embeddings`, `text_completion`, …).
    pub operation: &'static str,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("otel", &self.otel.is_some())
            .field("operation", &self.operation)
            .finish_non_exhaustive()
    }
}

impl Trace {
    /// No spans: the client's own trace context, if it sent one, is passed on upstream.
    pub fn passed_on(headers: &http::HeaderMap) -> Trace {
        let mut incoming = Vec::new();
        for name in [TRACEPARENT, TRACESTATE] {
            if let Some(v) = headers.get(&name) {
                incoming.push((name, v.clone()));
            }
        }
        Trace {
            incoming,
            ..Trace::default()
        }
    }

    /// Starts the span of one attempt on `d` (`retry`: failed attempts before it).
    pub(crate) fn attempt(&self, d: &Deployment, retry: u32) -> Attempt {
        let Some((tracer, parent)) = &self.otel else {
            return Attempt {
                span: None,
                headers: (!self.incoming.is_empty()).then(|| self.incoming.as_slice().into()),
            };
        };
        let operation = if self.operation.is_empty() {
            "chat"
        } else {
            self.operation
        };
        let target = &d.target;
        let mut attributes = vec![
            KeyValue::new("gen_ai.operation.name", operation),
            KeyValue::new("gen_ai.provider.name", target.provider.clone()),
            KeyValue::new("gen_ai.system", target.provider.clone()),
            KeyValue::new("gen_ai.request.model", target.model.clone()),
            KeyValue::new("switchyard.model_group", d.model_name.clone()),
            KeyValue::new("switchyard.deployment_id", d.id.clone()),
            KeyValue::new("switchyard.retry", i64::from(retry)),
        ];
        if let Ok(uri) = target.api_base.parse::<http::Uri>() {
            if let Some(host) = uri.host() {
                attributes.push(KeyValue::new("server.address", host.to_owned()));
            }
            let port = uri.port_u16().or(match uri.scheme_str() {
                Some("https") => Some(443),
                Some("http") => Some(80),
                _ => None,
            });
            if let Some(p) = port {
                attributes.push(KeyValue::new("server.port", i64::from(p)));
            }
        }
        let span = tracer
            .span_builder(format!("{operation} {}", target.model))
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(tracer.as_ref(), parent);
        let headers = context_headers(&span);
        Attempt {
            span: Some(span),
            headers: Some(headers),
        }
    }
}

/// `traceparent` (and `tracestate`) naming `span` as the parent of what the provider does.
fn context_headers(span: &BoxedSpan) -> Headers {
    let sc = span.span_context();
    let mut out = Vec::with_capacity(2);
    let parent = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    );
    if let Ok(v) = HeaderValue::try_from(parent) {
        out.push((TRACEPARENT, v));
    }
    let state = sc.trace_state().header();
    if !state.is_empty() {
        if let Ok(v) = HeaderValue::try_from(state) {
            out.push((TRACESTATE, v));
        }
    }
    out.into()
}

/// One attempt being traced.
pub(crate) struct Attempt {
    span: Option<BoxedSpan>,
    headers: Option<Headers>,
}

impl Attempt {
    /// Runs the attempt; its upstream requests carry the attempt's trace context. Not an
    /// `async fn`: that would hold `call` twice (as its argument, and inside the scope).
    pub(crate) fn run<F: Future>(&self, call: F) -> impl Future<Output = F::Output> {
        match &self.headers {
            Some(h) => futures_util::future::Either::Left(UPSTREAM.scope(Arc::clone(h), call)),
            None => futures_util::future::Either::Right(call),
        }
    }

    /// Runs a single attempt whose answer is complete when `call` returns (no stream kept
    /// open), ending its span either way.
    pub(crate) async fn once<T>(
        self,
        call: impl Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        let result = self.run(call).await;
        match &result {
            Ok(_) => drop(self.succeeded(None)),
            Err(e) => self.failed(e),
        }
        result
    }

    /// Ends the span of a failed attempt.
    pub(crate) fn failed(self, e: &GatewayError) {
        if let Some(mut span) = self.span {
            span.set_attribute(KeyValue::new("error.type", e.reason));
            span.set_attribute(KeyValue::new(
                "http.response.status_code",
                i64::from(e.status),
            ));
            span.set_status(Status::error(e.message.clone()));
            span.end();
        }
    }

    /// The span of a successful attempt, to end when its answer is complete; `usage` when
    /// it is known already.
    pub(crate) fn succeeded(self, usage: Option<&Usage>) -> AttemptSpan {
        let mut span = AttemptSpan(self.span);
        if let Some(u) = usage {
            span.usage(u);
        }
        span
    }
}

/// A successful attempt's span; it ends when dropped (a stream's, when the stream ends).
#[derive(Default)]
pub(crate) struct AttemptSpan(Option<BoxedSpan>);

impl AttemptSpan {
    /// Notes the answer's token counts.
    pub(crate) fn usage(&mut self, u: &Usage) {
        if let Some(span) = &mut self.0 {
            span.set_attributes(usage_attributes(u));
        }
    }
}

impl Drop for AttemptSpan {
    fn drop(&mut self) {
        if let Some(mut span) = self.0.take() {
            span.set_status(Status::Ok);
            span.end();
        }
    }
}

/// The GenAI usage attributes of `u`.
pub fn usage_attributes(u: &Usage) -> Vec<KeyValue> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut out = vec![
        KeyValue::new("gen_ai.usage.input_tokens", n(u.prompt_tokens)),
        KeyValue::new("gen_ai.usage.output_tokens", n(u.completion_tokens)),
    ];
    if let Some(c) = u
        .prompt_tokens_details
        .as_ref()
        .and_then(|d| d.cached_tokens)
    {
        out.push(KeyValue::new("gen_ai.usage.cache_read.input_tokens", n(c)));
    }
    out
}
