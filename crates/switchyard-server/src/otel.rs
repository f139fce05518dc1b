//! OpenTelemetry traces (`callbacks: ["otel"]`): a server span per request and a client span
//! per upstream attempt (the router's), with the GenAI semantic conventions, exported over
//! OTLP (HTTP protobuf, HTTP JSON or gRPC) in batches by the SDK's own thread.
//!
//! Settings are LiteLLM's variables (`OTEL_EXPORTER` = `otlp_http` | `otlp_grpc` | `console`,
//! `OTEL_ENDPOINT`, `OTEL_HEADERS`) or the standard `OTEL_EXPORTER_OTLP_*` ones, from the
//! config's `environment_variables` or the process environment. A client's W3C `traceparent`
//! makes the request span its child.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;
use opentelemetry::global::{BoxedSpan, BoxedTracer};
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use switchyard_config::Config;
use switchyard_providers::UpstreamRequest;
use switchyard_router::upstream::Client;
use switchyard_router::{CallMeta, GatewayError, Trace};
use switchyard_types::Usage;

/// Where and how spans go.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The wire format.
    pub exporter: Exporter,
    /// The collector URL (for HTTP, the whole `/v1/traces` URL).
    pub endpoint: String,
    /// Headers sent with every export (API keys).
    pub headers: HashMap<String, String>,
    /// Longest wait for one export.
    pub timeout: Duration,
    /// `service.name`.
    pub service_name: String,
    /// More resource attributes (`OTEL_RESOURCE_ATTRIBUTES`).
    pub resource: Vec<(String, String)>,
}

/// The OTLP wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exporter {
    /// OTLP/HTTP with protobuf bodies (the OpenTelemetry default).
    HttpProtobuf,
    /// OTLP/HTTP with JSON bodies.
    HttpJson,
    /// OTLP/gRPC.
    Grpc,
    /// Each span as a log line (LiteLLM's `OTEL_EXPORTER=console`).
    Console,
}

impl Settings {
    /// The settings `env` gives (LiteLLM's variables first, then the standard ones).
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let get = |k: &str| {
            env(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let standard = |k: &str| {
            get(&format!("OTEL_EXPORTER_OTLP_TRACES_{k}"))
                .or_else(|| get(&format!("OTEL_EXPORTER_OTLP_{k}")))
        };
        let exporter = match get("OTEL_EXPORTER").as_deref() {
            Some("otlp_http" | "otlp" | "http/protobuf") => Exporter::HttpProtobuf,
            Some("otlp_grpc" | "grpc") => Exporter::Grpc,
            Some("http/json") => Exporter::HttpJson,
            Some("console") => Exporter::Console,
            Some(other) => {
                return Err(format!(
                    "OTEL_EXPORTER `{other}` is not one of otlp_http, otlp_grpc, console"
                ))
            }
            None => match standard("PROTOCOL").as_deref() {
                None | Some("http/protobuf") => Exporter::HttpProtobuf,
                Some("http/json") => Exporter::HttpJson,
                Some("grpc") => Exporter::Grpc,
                Some(other) => {
                    return Err(format!(
                    "OTEL_EXPORTER_OTLP_PROTOCOL `{other}` is not one of grpc, http/protobuf, http/json"
                ))
                }
            },
        };
        let http = matches!(exporter, Exporter::HttpProtobuf | Exporter::HttpJson);
        // LiteLLM's OTEL_ENDPOINT and the base OTLP variable name the collector; for HTTP the
        // traces path is added. The traces-only variable is the whole URL.
        let with_path = |base: String| {
            let base = base.trim_end_matches('/').to_owned();
            if http && !base.ends_with("/v1/traces") {
                format!("{base}/v1/traces")
            } else {
                base
            }
        };
        let endpoint = get("OTEL_ENDPOINT")
            .map(with_path)
            .or_else(|| get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            .or_else(|| get("OTEL_EXPORTER_OTLP_ENDPOINT").map(with_path))
            .unwrap_or_else(|| {
                if http {
                    "http://localhost:4318/v1/traces".into()
                } else {
                    "http://localhost:4317".into()
                }
            });
        if exporter != Exporter::Console {
            endpoint
                .parse::<http::Uri>()
                .ok()
                .filter(|u| u.scheme().is_some() && u.host().is_some())
                .ok_or_else(|| format!("the OpenTelemetry endpoint `{endpoint}` is not a URL"))?;
        }
        let mut headers = HashMap::new();
        for list in [standard("HEADERS"), get("OTEL_HEADERS")]
            .into_iter()
            .flatten()
        {
            headers.extend(pairs(&list));
        }
        let timeout = standard("TIMEOUT")
            .and_then(|ms| ms.parse::<u64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        let service_name = get("OTEL_SERVICE_NAME").unwrap_or_else(|| "switchyard".into());
        let resource = get("OTEL_RESOURCE_ATTRIBUTES")
            .map(|r| pairs(&r))
            .unwrap_or_default();
        Ok(Settings {
            exporter,
            endpoint,
            headers,
            timeout,
            service_name,
            resource,
        })
    }
}

/// `k=v,k2=v2` (values percent-decoded, as the OpenTelemetry variables are).
fn pairs(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The gateway's tracer.
pub struct Otel {
    provider: SdkTracerProvider,
    tracer: Arc<BoxedTracer>,
    /// Request spans carry the messages and the answer (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`): unless `turn_off_message_logging` or
    /// `callback_settings.otel.message_logging: false`.
    pub log_messages: bool,
}

impl std::fmt::Debug for Otel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Otel")
    }
}

/// `otel` is among the config's callbacks.
pub fn wanted(config: &Config) -> bool {
    let s = &config.file.litellm_settings;
    [&s.callbacks, &s.success_callback, &s.failure_callback]
        .into_iter()
        .flatten()
        .flatten()
        .any(|c| c == "otel")
}

impl Otel {
    /// The tracer the config asks for (`otel` among its callbacks), if it does. Must be
    /// called within the Tokio runtime (exports run on it).
    pub fn from_config(config: &Config, client: &Client) -> Result<Option<Otel>, String> {
        if !wanted(config) {
            return Ok(None);
        }
        let settings = Settings::from_env(|k| config.env_var(k))?;
        let mut otel = Otel::start(&settings, client)?;
        let f = &config.file;
        otel.log_messages = !f
            .litellm_settings
            .turn_off_message_logging
            .is_some_and(|v| v.0)
            && f.callback_settings
                .as_ref()
                .and_then(|c| c.get("otel"))
                .and_then(|o| o.get("message_logging"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true);
        Ok(Some(otel))
    }

    /// Starts exporting with `settings`; `client` sends OTLP/HTTP.
    pub fn start(settings: &Settings, client: &Client) -> Result<Otel, String> {
        let build = |e: opentelemetry_otlp::ExporterBuildError| {
            format!("cannot start the OpenTelemetry exporter: {e}")
        };
        let builder = SdkTracerProvider::builder().with_resource(
            opentelemetry_sdk::Resource::builder_empty()
                .with_service_name(settings.service_name.clone())
                .with_attributes(
                    std::iter::once(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
                        .chain(
                            settings
                                .resource
                                .iter()
                                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
                        ),
                )
                .build(),
        );
        let provider = match settings.exporter {
            Exporter::HttpProtobuf | Exporter::HttpJson => {
                let runtime = tokio::runtime::Handle::try_current()
                    .map_err(|_| "OpenTelemetry needs the Tokio runtime".to_owned())?;
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(settings.endpoint.clone())
                    .with_protocol(if settings.exporter == Exporter::HttpJson {
                        Protocol::HttpJson
                    } else {
                        Protocol::HttpBinary
                    })
                    .with_timeout(settings.timeout)
                    .with_headers(settings.headers.clone())
                    .with_http_client(OtlpHttp {
                        client: client.clone(),
                        runtime,
                        timeout: settings.timeout,
                    })
                    .build()
                    .map_err(build)?;
                builder.with_batch_exporter(exporter).build()
            }
            Exporter::Grpc => {
                use opentelemetry_otlp::WithTonicConfig as _;
                let mut metadata = tonic::metadata::MetadataMap::new();
                for (k, v) in &settings.headers {
                    let key =
                        tonic::metadata::MetadataKey::from_bytes(k.as_bytes()).map_err(|_| {
                            format!("OTEL header `{k}` is not a valid gRPC metadata key")
                        })?;
                    let value = v
                        .parse()
                        .map_err(|_| format!("OTEL header `{k}` has an invalid value"))?;
                    metadata.insert(key, value);
                }
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(settings.endpoint.clone())
                    .with_protocol(Protocol::Grpc)
                    .with_timeout(settings.timeout)
                    .with_metadata(metadata)
                    .build()
                    .map_err(build)?;
                builder.with_batch_exporter(exporter).build()
            }
            Exporter::Console => builder.with_batch_exporter(Console).build(),
        };
        use opentelemetry::trace::TracerProvider as _;
        let tracer = provider.tracer("switchyard");
        Ok(Otel {
            provider,
            tracer: Arc::new(BoxedTracer::new(Box::new(tracer))),
            log_messages: false,
        })
    }

    /// Starts a request's span, the child of the client's `traceparent` when it sent one.
    pub fn request_span(&self, headers: &HeaderMap, route: &'static str) -> RequestSpan {
        let parent =
            TraceContextPropagator::new().extract(&opentelemetry_http::HeaderExtractor(headers));
        let operation = operation(route);
        let span: BoxedSpan = self
            .tracer
            .span_builder(operation)
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("gen_ai.operation.name", operation),
                KeyValue::new("http.request.method", "POST"),
                KeyValue::new("http.route", route),
            ])
            .start_with_context(self.tracer.as_ref(), &parent);
        RequestSpan {
            cx: parent.with_span(span),
            tracer: Arc::clone(&self.tracer),
            operation,
        }
    }

    /// Exports every span still queued, then stops (a graceful shutdown). Blocks on the
    /// exporter's thread, so it runs off the async workers.
    pub async fn shutdown(&self) {
        let provider = self.provider.clone();
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = done {
            tracing::warn!("OpenTelemetry: spans not all exported at shutdown: {e}");
        }
    }
}

/// The GenAI operation of a route.
fn operation(route: &'static str) -> &'static str {
    match route {
        "/embeddings" => "embeddings",
        "/completions" => "text_completion",
        "/images/generations" => "generate_content",
        "/audio/speech" => "speech",
        "/audio/transcriptions" => "transcription",
        "/moderations" => "moderation",
        "/rerank" => "rerank",
        "/passthrough" => "pass_through",
        _ => "chat",
    }
}

/// A request's span: the router's attempt spans are its children.
pub struct RequestSpan {
    cx: Context,
    tracer: Arc<BoxedTracer>,
    operation: &'static str,
}

/// How a request ended, for its span.
pub struct Ended<'a> {
    /// The HTTP status the client got.
    pub status: u16,
    /// Where it went.
    pub meta: Option<&'a CallMeta>,
    /// Its tokens.
    pub usage: Option<&'a Usage>,
    /// Its cost in dollars.
    pub cost_usd: f64,
    /// Why it failed.
    pub error: Option<&'a GatewayError>,
    /// Its key's alias, team and user.
    pub key_alias: Option<&'a str>,
    /// See `key_alias`.
    pub team_id: Option<&'a str>,
    /// See `key_alias`.
    pub user_id: Option<&'a str>,
    /// The end user (`user` field).
    pub end_user: Option<&'a str>,
    /// The request's messages as JSON, when spans carry them.
    pub input: Option<&'a bytes::Bytes>,
    /// The answer as JSON (or text), when spans carry it.
    pub output: Option<&'a bytes::Bytes>,
}

impl RequestSpan {
    /// What the router needs to trace the request's attempts.
    pub fn trace(&self) -> Trace {
        Trace {
            otel: Some((Arc::clone(&self.tracer), self.cx.clone())),
            incoming: Vec::new(),
            operation: self.operation,
        }
    }

    /// Names the call and the model asked for, once the body is read.
    pub fn requested(&self, call_id: &str, model: &str, attributes: Vec<KeyValue>) {
        let span = self.cx.span();
        span.update_name(format!("{} {model}", self.operation));
        span.set_attribute(KeyValue::new("gen_ai.request.model", model.to_owned()));
        span.set_attribute(KeyValue::new("switchyard.call_id", call_id.to_owned()));
        span.set_attributes(attributes);
    }

    /// Ends the span with the request's outcome.
    pub fn end(&self, e: Ended<'_>) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(e.status),
        ));
        if let Some(m) = e.meta {
            span.set_attribute(KeyValue::new("gen_ai.provider.name", m.provider.clone()));
            span.set_attribute(KeyValue::new("gen_ai.system", m.provider.clone()));
            span.set_attribute(KeyValue::new("gen_ai.response.model", m.model.clone()));
            span.set_attribute(KeyValue::new(
                "switchyard.model_group",
                m.model_group.clone(),
            ));
            span.set_attribute(KeyValue::new(
                "switchyard.deployment_id",
                m.deployment_id.clone(),
            ));
            span.set_attribute(KeyValue::new(
                "switchyard.attempted_retries",
                i64::from(m.attempted_retries),
            ));
            span.set_attribute(KeyValue::new(
                "switchyard.attempted_fallbacks",
                i64::from(m.attempted_fallbacks),
            ));
        }
        if let Some(u) = e.usage {
            span.set_attributes(switchyard_router::trace::usage_attributes(u));
        }
        span.set_attribute(KeyValue::new("switchyard.cost_usd", e.cost_usd));
        if let Some(input) = e.input.filter(|b| !b.is_empty()) {
            span.set_attribute(KeyValue::new(
                "gen_ai.input.messages",
                String::from_utf8_lossy(input).into_owned(),
            ));
        }
        if let Some(bytes) = e.output.filter(|b| !b.is_empty()) {
            let output: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned())
            });
            let output = &output;
            // A chat answer's messages with their finish reasons; any other answer as it is.
            let messages = output["choices"].as_array().map(|choices| {
                let m: Vec<serde_json::Value> = choices
                    .iter()
                    .map(|c| {
                        let mut m = c["message"].clone();
                        if let Some(o) = m.as_object_mut() {
                            o.insert("finish_reason".into(), c["finish_reason"].clone());
                        }
                        m
                    })
                    .collect();
                serde_json::Value::Array(m)
            });
            let text = messages.as_ref().unwrap_or(output).to_string();
            span.set_attribute(KeyValue::new("gen_ai.output.messages", text));
        }
        for (k, v) in [
            ("switchyard.key_alias", e.key_alias),
            ("switchyard.team_id", e.team_id),
            ("switchyard.user_id", e.user_id),
            ("switchyard.end_user", e.end_user),
        ] {
            if let Some(v) = v {
                span.set_attribute(KeyValue::new(k, v.to_owned()));
            }
        }
        match e.error {
            Some(err) => {
                span.set_attribute(KeyValue::new("error.type", err.reason));
                span.set_status(Status::error(err.message.clone()));
            }
            None => span.set_status(Status::Ok),
        }
        span.end();
    }
}

/// OTLP/HTTP through the gateway's own pooled client. The SDK exports from its own thread,
/// so each export is sent on the Tokio runtime and awaited from there.
struct OtlpHttp {
    client: Client,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

impl std::fmt::Debug for OtlpHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtlpHttp")
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpHttp {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let (parts, body) = request.into_parts();
        let mut headers = Vec::with_capacity(parts.headers.len());
        let mut last = None;
        for (k, v) in parts.headers {
            if let Some(k) = k {
                last = Some(k);
            }
            if let Some(k) = &last {
                headers.push((k.clone(), v));
            }
        }
        let up = UpstreamRequest {
            method: parts.method,
            url: parts.uri.to_string(),
            headers,
            body,
        };
        let client = self.client.clone();
        let timeout = self.timeout;
        let (status, body) = self
            .runtime
            .spawn(async move { client.send_plain(up, timeout).await })
            .await??;
        Ok(http::Response::builder().status(status).body(body)?)
    }
}

/// Spans as log lines (`OTEL_EXPORTER=console`).
#[derive(Debug)]
struct Console;

impl opentelemetry_sdk::trace::SpanExporter for Console {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        for s in batch {
            let attributes: serde_json::Map<String, serde_json::Value> = s
                .attributes
                .iter()
                .map(|kv| {
                    (
                        kv.key.to_string(),
                        serde_json::Value::String(kv.value.to_string()),
                    )
                })
                .collect();
            let millis = s
                .end_time
                .duration_since(s.start_time)
                .unwrap_or_default()
                .as_secs_f64()
                * 1000.0;
            tracing::info!(
                target: "switchyard::otel",
                name = %s.name,
                trace_id = %s.span_context.trace_id(),
                span_id = %s.span_context.span_id(),
                parent_span_id = %s.parent_span_id,
                kind = ?s.span_kind,
                duration_ms = millis,
                attributes = %serde_json::Value::Object(attributes),
                "span"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn settings_follow_litellm_then_the_standard_variables() {
        let s = Settings::from_env(env(&[])).unwrap();
        assert_eq!(s.exporter, Exporter::HttpProtobuf);
        assert_eq!(s.endpoint, "http://localhost:4318/v1/traces");
        assert_eq!(s.service_name, "switchyard");

        let s = Settings::from_env(env(&[
            ("OTEL_EXPORTER", "otlp_http"),
            ("OTEL_ENDPOINT", "https://collector.example:4318/"),
            ("OTEL_HEADERS", "api-key=k1,x-team=a%20b"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=k0,other=1"),
            ("OTEL_SERVICE_NAME", "gw"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod"),
        ]))
        .unwrap();
        assert_eq!(s.endpoint, "https://collector.example:4318/v1/traces");
        assert_eq!(s.headers["api-key"], "k1");
        assert_eq!(s.headers["other"], "1");
        assert_eq!(s.headers["x-team"], "a b");
        assert_eq!(s.service_name, "gw");
        assert_eq!(
            s.resource,
            vec![("deployment.environment".to_owned(), "prod".to_owned())]
        );

        let s = Settings::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]))
        .unwrap();
        assert_eq!(s.exporter, Exporter::Grpc);
        assert_eq!(s.endpoint, "http://127.0.0.1:4317");
        assert_eq!(s.timeout, Duration::from_millis(2500));

        let s = Settings::from_env(env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://h:1/custom"),
        ]))
        .unwrap();
        assert_eq!(s.exporter, Exporter::HttpJson);
        assert_eq!(s.endpoint, "http://h:1/custom");

        let e = Settings::from_env(env(&[("OTEL_EXPORTER", "zipkin")])).unwrap_err();
        assert!(e.contains("zipkin"), "{e}");
        let e = Settings::from_env(env(&[("OTEL_ENDPOINT", "not a url")])).unwrap_err();
        assert!(e.contains("not a url"), "{e}");
    }
}
