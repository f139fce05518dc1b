//! The one place the gateway talks to providers: a pooled HTTP client, timeouts, and the
//! mapping of transport failures to [`GatewayError`]s.
//!
//! The client is hyper-util's pooled client with rustls (ring; webpki roots unless
//! `ssl_verify` / `SSL_CERT_FILE` say otherwise, see [`crate::tls`]), HTTP/1.1 and HTTP/2 by
//! ALPN, TCP_NODELAY on every connection, in several pools so that no HTTP/2 connection runs
//! out of streams (see [`crate::pool`]). It replaced reqwest on the request path: reqwest
//! re-parses the URL with the `url` crate and adds layers (redirects, proxies) a gateway does
//! not use; profiling showed those at about 6 % of the gateway's CPU.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use switchyard_config::Config;
use switchyard_providers::{ChatOutput, ChatProvider, StreamTranslator, Target, UpstreamRequest};
use switchyard_types::{ChatCompletionRequest, Verbatim};

use crate::pool::{Pools, UpstreamBody};
use crate::protocols::{Learning, Protocols, Route};
use crate::tls::Trust;
use crate::{GatewayError, UsageSlot};

/// What an upstream answers with: hyper's body, counted in flight on its pool until it ends.
type Incoming = UpstreamBody;

/// Connect timeout for every provider.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

type Connector = Learning<hyper_rustls::HttpsConnector<HttpConnector>>;

/// An upload forwarded as it arrives (a multipart audio file), never held whole.
pub type Upload = BoxStream<'static, Result<Bytes, std::io::Error>>;

/// A request body: whole (every API call), or streamed (an upload).
type OutBody = http_body_util::Either<Full<Bytes>, UnsyncBoxBody<Bytes, std::io::Error>>;

type Http = hyper_util::client::legacy::Client<Connector, OutBody>;

/// One pool's clients: HTTP/1.1 or HTTP/2 by ALPN, and HTTP/2 only for hosts known to
/// speak it (see [`crate::protocols`]).
struct PoolClients {
    alpn: Http,
    h2: Http,
}

/// A pooled HTTP/1.1 + HTTP/2 client with rustls.
#[derive(Clone)]
pub struct Client {
    pools: Arc<Pools<PoolClients>>,
    protocols: Arc<Protocols>,
}

/// A failure below HTTP: connecting, sending, or reading the body.
#[derive(Debug)]
enum Transport {
    /// The request could not be built from the translated parts.
    Build(String),
    /// hyper-util's client failed (connect, TLS, send).
    Client(hyper_util::client::legacy::Error),
    /// The body broke off.
    Body(hyper::Error),
    /// No answer in time.
    Timeout,
}

/// Response headers not echoed as `llm_provider-*`: hop-by-hop, framing and cookies.
fn echo_header(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "content-length"
            | "content-type"
            | "content-encoding"
            | "date"
            | "server"
            | "set-cookie"
            | "alt-svc"
            | "vary"
            | "upgrade"
            | "proxy-authenticate"
            | "trailer"
            | "te"
            | "strict-transport-security"
    )
}

/// The response headers echoed as `llm_provider-*`, taken out of the response (not copied).
fn echoed(headers: HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(headers.len());
    let mut keep = false;
    for (name, value) in headers {
        match name {
            Some(n) => {
                keep = echo_header(&n);
                if keep {
                    out.push((n, value));
                }
            }
            // A further value of the name before.
            None if keep => {
                if let Some(n) = out.last().map(|(n, _)| n.clone()) {
                    out.push((n, value));
                }
            }
            None => {}
        }
    }
    out
}

/// `Retry-After` (seconds) or `retry-after-ms`, when the provider sent one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let read = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    if let Some(ms) = read("retry-after-ms") {
        return Some(Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0)));
    }
    read("retry-after").map(|s| Duration::from_secs_f64(s.clamp(0.0, 3600.0)))
}

fn transport_error(e: Transport, target: &Target, timeout: Duration) -> GatewayError {
    // Messages name the base URL, never the full request (a key could be in a query string).
    match e {
        Transport::Timeout => GatewayError::timeout(format!(
            "{} did not answer within {:.3}s ({})",
            target.api_base,
            timeout.as_secs_f64(),
            target.model
        )),
        Transport::Client(e) if e.is_connect() => GatewayError::unreachable(format!(
            "cannot connect to {}: {}",
            target.api_base,
            source_chain(&e)
        )),
        Transport::Client(e) => GatewayError::unreachable(format!(
            "request to {} failed: {}",
            target.api_base,
            source_chain(&e)
        )),
        Transport::Body(e) => GatewayError::bad_gateway(format!(
            "{} broke off its response: {}",
            target.api_base,
            source_chain(&e)
        )),
        Transport::Build(m) => {
            GatewayError::misconfigured(format!("cannot call {}: {m}", target.api_base))
        }
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

struct StreamState {
    body: BoxStream<'static, Result<Bytes, hyper::Error>>,
    /// The request, kept to count prompt tokens if the provider reports no usage.
    request: ChatCompletionRequest,
    translator: Box<dyn StreamTranslator>,
    pending: VecDeque<Bytes>,
    idle: Duration,
    target: Target,
    usage: UsageSlot,
    done: bool,
    finished: bool,
    cut: bool,
}

impl StreamState {
    /// The provider sent no usage: count it, so the stream is still priced.
    fn count_if_no_usage(&mut self) {
        use switchyard_pricing::tokens;
        let Ok(mut slot) = self.usage.lock() else {
            return;
        };
        if slot.is_some() {
            return;
        }
        let model = &self.target.model;
        let prompt =
            tokens::count_messages(model, &self.request.messages, self.request.tools.as_deref());
        let completion = tokens::count_text(
            tokens::encoding_for(model),
            self.translator.completion_text(),
        );
        *slot = Some(switchyard_types::Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
            ..Default::default()
        });
    }

    /// Takes one translated piece: queues its events, notes usage. `Err` ends the stream.
    fn take(&mut self, out: switchyard_providers::StreamOutput) -> Result<(), GatewayError> {
        self.pending.extend(out.events);
        if let Some(u) = out.usage {
            if let Ok(mut slot) = self.usage.lock() {
                *slot = Some(u);
            }
        }
        self.done |= out.done;
        match out.error {
            Some(e) => {
                self.finished = true;
                // The provider's own error event was forwarded; end without another.
                if self.pending.is_empty() {
                    Err(GatewayError::from_provider(e, &self.target.provider))
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }
}

/// `t + d`, or about thirty years on when a configured timeout is too large to add (as
/// `tokio::time::timeout` does): never a panic.
fn later(t: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    t.checked_add(d.min(FAR)).unwrap_or(t)
}

/// A stream's translated events, polled by hand: a chunk costs no timer registration (the
/// idle timer is armed once, and moved only when it fires before the silence is long enough)
/// and no move of the state into a fresh future.
struct Events {
    state: StreamState,
    idle_timer: std::pin::Pin<Box<tokio::time::Sleep>>,
    last_chunk: tokio::time::Instant,
}

impl Events {
    fn new(state: StreamState) -> Events {
        let now = tokio::time::Instant::now();
        Events {
            idle_timer: Box::pin(tokio::time::sleep_until(later(now, state.idle))),
            last_chunk: now,
            state,
        }
    }

    /// Whether the provider has been silent for the whole idle timeout; registers for a wake
    /// at its end otherwise.
    fn silent_too_long(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        loop {
            if self.idle_timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            let deadline = later(self.last_chunk, self.state.idle);
            if tokio::time::Instant::now() >= deadline {
                return true;
            }
            // Chunks came since it was armed: wait for the rest of the current silence.
            self.idle_timer.as_mut().reset(deadline);
        }
    }
}

impl futures_util::Stream for Events {
    type Item = Result<Bytes, GatewayError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use std::task::Poll;
        let this = &mut *self;
        loop {
            let st = &mut this.state;
            if let Some(b) = st.pending.pop_front() {
                return Poll::Ready(Some(Ok(b)));
            }
            if st.finished {
                if std::mem::take(&mut st.cut) {
                    return Poll::Ready(Some(Err(GatewayError::bad_gateway(format!(
                        "{} ended the stream before it was complete",
                        st.target.api_base
                    )))));
                }
                return Poll::Ready(None);
            }
            match st.body.poll_next_unpin(cx) {
                Poll::Pending => {
                    if !this.silent_too_long(cx) {
                        return Poll::Pending;
                    }
                    let st = &mut this.state;
                    st.finished = true;
                    return Poll::Ready(Some(Err(GatewayError::timeout(format!(
                        "{} sent nothing for {:.3}s in the middle of a stream",
                        st.target.api_base,
                        st.idle.as_secs_f64()
                    )))));
                }
                Poll::Ready(Some(Ok(chunk))) => {
                    this.last_chunk = tokio::time::Instant::now();
                    let out = st.translator.push(&chunk);
                    if let Err(e) = st.take(out) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    st.finished = true;
                    return Poll::Ready(Some(Err(transport_error(
                        Transport::Body(e),
                        &st.target,
                        st.idle,
                    ))));
                }
                Poll::Ready(None) => {
                    let out = st.translator.finish();
                    let failed = out.error.is_some();
                    if let Err(e) = st.take(out) {
                        return Poll::Ready(Some(Err(e)));
                    }
                    st.count_if_no_usage();
                    st.finished = true;
                    // No end marker and no provider error: the stream was cut; say so after
                    // what was received.
                    st.cut = !st.done && !failed;
                }
            }
        }
    }
}

/// Passes a 2xx response on; reads any other into the provider's error, `Retry-After` kept.
async fn check_status(
    resp: http::Response<Incoming>,
    target: &Target,
    translator: &'static dyn ChatProvider,
    timeout: Duration,
) -> Result<http::Response<Incoming>, GatewayError> {
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let after = retry_after(resp.headers());
    let (head, body) = resp.into_parts();
    let body = read_all(body)
        .await
        .map_err(|e| transport_error(e, target, timeout))?;
    let mut e = GatewayError::from_provider(
        translator.error_response_with_headers(status.as_u16(), &head.headers, &body),
        &target.provider,
    );
    e.retry_after = after;
    Err(e)
}

async fn read_all(body: Incoming) -> Result<Bytes, Transport> {
    body.collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(Transport::Body)
}

/// Signs the request when the deployment has AWS credentials (Bedrock). A SigV4 signature
/// holds for a few minutes around the time it names, so it is made here, as the request is
/// sent, and again for each retry.
/// The attempt's trace context goes in first, so that it is signed too.
fn signed(target: &Target, mut up: UpstreamRequest) -> Result<UpstreamRequest, GatewayError> {
    crate::trace::add_upstream_headers(&mut up.headers);
    if let Some(aws) = &target.aws {
        switchyard_providers::sigv4::sign(&mut up, aws, std::time::SystemTime::now())
            .map_err(GatewayError::from_translate)?;
    }
    Ok(up)
}

/// What a streamed call needs beyond the upstream request.
pub struct StreamCall<'r> {
    /// Longest silence between chunks (the deployment's `timeout`).
    pub timeout: Duration,
    /// Longest wait for the first chunk.
    pub stream_timeout: Duration,
    /// Keep the usage chunk the gateway asked for from the client.
    pub strip_usage: bool,
    /// The request, to count prompt tokens if the provider reports no usage: taken once the
    /// stream has begun, left in place when it fails (for the next attempt).
    pub request: &'r mut Verbatim<ChatCompletionRequest>,
}

impl Client {
    /// A client with the gateway's pool settings.
    pub fn new(config: &Config) -> Result<Client, String> {
        let tls = Trust::from_config(config)
            .client_config()
            .map_err(|e| format!("{e} (from ssl_verify or SSL_CERT_FILE)"))?;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.enforce_http(false);
        http.set_keepalive(Some(Duration::from_secs(60)));
        let https = match tls {
            Some(tls) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls),
            None => hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots(),
        }
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
        let protocols = Arc::new(Protocols::default());
        let connector = Learning::new(https, Arc::clone(&protocols));
        let build = |h2_only: bool| {
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(1024)
                .http2_only(h2_only)
                .build(connector.clone())
        };
        let pools = Arc::new(Pools::new(|| PoolClients {
            alpn: build(false),
            h2: build(true),
        }));
        Ok(Client { pools, protocols })
    }

    /// Sends `req` on the pool with room for it; the answer's body keeps it counted there.
    /// A host known to speak HTTP/2 gets the pool's HTTP/2-only client (one connection per
    /// pool, however large the burst); a host not connected to yet is probed first.
    async fn request(
        &self,
        req: Request<OutBody>,
    ) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
        let route = self.protocols.route(req.uri()).await;
        let (clients, in_flight) = self.pools.pick();
        let sent = match &route {
            Route::Http2(_) => clients.h2.request(req).await,
            Route::Alpn | Route::Probe(_) => clients.alpn.request(req).await,
        };
        match (sent, route) {
            (Ok(resp), _) => Ok(resp.map(|body| UpstreamBody::new(body, in_flight))),
            (Err(e), Route::Http2(host)) => {
                self.protocols.demote(&host);
                Err(e)
            }
            (Err(e), _) => Err(e),
        }
    }

    async fn send(&self, up: UpstreamRequest) -> Result<http::Response<Incoming>, Transport> {
        let uri: Uri = up
            .url
            .parse()
            .map_err(|e| Transport::Build(format!("invalid URL: {e}")))?;
        let mut req = Request::builder().method(up.method).uri(uri);
        if let Some(h) = req.headers_mut() {
            h.reserve(up.headers.len());
            for (k, v) in up.headers {
                h.append(k, v);
            }
        }
        let req = req
            .body(http_body_util::Either::Left(Full::new(up.body)))
            .map_err(|e| Transport::Build(e.to_string()))?;
        self.request(req).await.map_err(Transport::Client)
    }

    /// Sends `up` (whose own body is ignored) with `upload` as its body, streamed as it
    /// arrives, and returns the echoed headers and the body of a 2xx answer. A streamed body
    /// cannot be sent twice, so there is no retry. `timeout` bounds the whole call.
    pub async fn upload(
        &self,
        target: &Target,
        translator: &'static dyn ChatProvider,
        mut up: UpstreamRequest,
        upload: Upload,
        timeout: Duration,
    ) -> Result<(Vec<(HeaderName, HeaderValue)>, Bytes), GatewayError> {
        crate::trace::add_upstream_headers(&mut up.headers);
        let uri: Uri = up.url.parse().map_err(|e| {
            transport_error(
                Transport::Build(format!("invalid URL: {e}")),
                target,
                timeout,
            )
        })?;
        let mut req = Request::builder().method(up.method).uri(uri);
        if let Some(h) = req.headers_mut() {
            for (k, v) in up.headers {
                h.append(k, v);
            }
        }
        let body = StreamBody::new(upload.map(|r| r.map(Frame::data))).boxed_unsync();
        let req = req
            .body(http_body_util::Either::Right(body))
            .map_err(|e| transport_error(Transport::Build(e.to_string()), target, timeout))?;
        let sent = async { self.request(req).await.map_err(Transport::Client) };
        self.answer(target, translator, timeout, sent).await
    }

    /// A whole answer, within `timeout`: the echoed headers and the body of a 2xx; any other
    /// status read by the translator into the provider's error.
    async fn answer(
        &self,
        target: &Target,
        translator: &'static dyn ChatProvider,
        timeout: Duration,
        sent: impl std::future::Future<Output = Result<http::Response<Incoming>, Transport>>,
    ) -> Result<(Vec<(HeaderName, HeaderValue)>, Bytes), GatewayError> {
        let call = async {
            let resp = sent
                .await
                .map_err(|e| transport_error(e, target, timeout))?;
            let resp = check_status(resp, target, translator, timeout).await?;
            let (parts, body) = resp.into_parts();
            let headers = echoed(parts.headers);
            let body = read_all(body)
                .await
                .map_err(|e| transport_error(e, target, timeout))?;
            Ok::<_, GatewayError>((headers, body))
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| transport_error(Transport::Timeout, target, timeout))?
    }

    /// Sends a provider-native request (pass-through routes) and returns the 2xx response head
    /// and body stream; any other status is read into the provider's error (`translator`).
    /// `timeout` bounds the wait for the response head.
    pub async fn forward(
        &self,
        target: &Target,
        translator: &'static dyn ChatProvider,
        up: UpstreamRequest,
        timeout: Duration,
    ) -> Result<http::Response<Incoming>, GatewayError> {
        let up = signed(target, up)?;
        let call = async {
            let resp = self
                .send(up)
                .await
                .map_err(|e| transport_error(e, target, timeout))?;
            check_status(resp, target, translator, timeout).await
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| transport_error(Transport::Timeout, target, timeout))?
    }

    /// POSTs a JSON body (a webhook, an alert) and returns the status; the body is dropped.
    pub async fn post_json(
        &self,
        url: &str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<u16, String> {
        self.post(url, "application/json", body, timeout)
            .await
            .map(|(status, _)| status)
    }

    /// POSTs a body and returns the status and the answer's body.
    pub async fn post(
        &self,
        url: &str,
        content_type: &'static str,
        body: Bytes,
        timeout: Duration,
    ) -> Result<(u16, Bytes), String> {
        self.post_request(url, content_type, &[], body, timeout)
            .await
    }

    /// Sends a request as it is (a log sink's upload), returning the status and body.
    pub async fn send_plain(
        &self,
        up: UpstreamRequest,
        timeout: Duration,
    ) -> Result<(u16, Bytes), String> {
        let call = async {
            let resp = self.send(up).await.map_err(|e| format!("{e:?}"))?;
            let status = resp.status().as_u16();
            let body = read_all(resp.into_body())
                .await
                .map_err(|e| format!("{e:?}"))?;
            Ok::<(u16, Bytes), String>((status, body))
        };
        tokio::time::timeout(timeout, call)
            .await
            .map_err(|_| "timed out".to_owned())?
    }

    /// POSTs JSON with extra headers (a log sink's), returning the status and body.
    pub async fn post_with_headers(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<(u16, Bytes), String> {
        self.post_request(url, "application/json", headers, body, timeout)
            .await
    }

    async fn post_request(
        &self,
        url: &str,
        content_type: &'static str,
        extra: &[(String, String)],
        body: Bytes,
        timeout: Duration,
    ) -> Result<(u16, Bytes), String> {
        let mut headers = vec![(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        )];
        for (k, v) in extra {
            let name = HeaderName::try_from(k.as_str()).map_err(|e| e.to_string())?;
            let value = HeaderValue::try_from(v.as_str()).map_err(|e| e.to_string())?;
            headers.push((name, value));
        }
        let up = UpstreamRequest {
            method: http::Method::POST,
            url: url.to_owned(),
            headers,
            body,
        };
        self.send_plain(up, timeout).await
    }

    /// One non-streamed call.
    pub async fn complete(
        &self,
        target: &Target,
        translator: &'static dyn ChatProvider,
        up: UpstreamRequest,
        timeout: Duration,
    ) -> Result<(Vec<(HeaderName, HeaderValue)>, ChatOutput), GatewayError> {
        let (headers, body) = self.fetch(target, translator, up, timeout).await?;
        let out = translator
            .chat_response(target, body)
            .map_err(|e| GatewayError::from_provider(e, &target.provider))?;
        Ok((headers, out))
    }

    /// One non-streamed call: the echoed headers and the body of a 2xx answer; any other
    /// status is read by the translator into the provider's error.
    pub async fn fetch(
        &self,
        target: &Target,
        translator: &'static dyn ChatProvider,
        up: UpstreamRequest,
        timeout: Duration,
    ) -> Result<(Vec<(HeaderName, HeaderValue)>, Bytes), GatewayError> {
        let up = signed(target, up)?;
        self.answer(target, translator, timeout, self.send(up))
            .await
    }

    /// One streamed call. Returns once the first body bytes arrived (within `stream_timeout`),
    /// so a failure before that is an ordinary error response, not a broken stream.
    pub async fn stream(
        &self,
        target: &Target,
        translator: &'static dyn ChatProvider,
        up: UpstreamRequest,
        call: StreamCall<'_>,
    ) -> Result<
        (
            Vec<(HeaderName, HeaderValue)>,
            BoxStream<'static, Result<Bytes, GatewayError>>,
            UsageSlot,
        ),
        GatewayError,
    > {
        let StreamCall {
            timeout,
            stream_timeout,
            strip_usage,
            request,
        } = call;
        let up = signed(target, up)?;
        let first = async {
            tracing::trace!(api_base = %target.api_base, "stream: sending upstream");
            let resp = self
                .send(up)
                .await
                .map_err(|e| transport_error(e, target, stream_timeout))?;
            tracing::trace!("stream: upstream head received");
            let resp = check_status(resp, target, translator, stream_timeout).await?;
            let (parts, body) = resp.into_parts();
            let headers = echoed(parts.headers);
            let mut body = body.into_data_stream().boxed();
            let first = body.next().await;
            tracing::trace!("stream: first upstream chunk received");
            Ok((headers, body, first))
        };
        let (headers, body, first) =
            tokio::time::timeout(stream_timeout, first)
                .await
                .map_err(|_| {
                    GatewayError::timeout(format!(
                        "{} sent no stream data within {:.3}s ({})",
                        target.api_base,
                        stream_timeout.as_secs_f64(),
                        target.model
                    ))
                })??;
        let mut state = StreamState {
            body,
            request: ChatCompletionRequest::default(),
            translator: translator.chat_stream(target, strip_usage),
            pending: VecDeque::new(),
            idle: timeout,
            target: target.clone(),
            usage: Arc::new(Mutex::new(None)),
            done: false,
            finished: false,
            cut: false,
        };
        match first {
            None => {
                return Err(GatewayError::bad_gateway(format!(
                    "{} closed the stream without sending anything",
                    target.api_base
                )))
            }
            Some(Err(e)) => {
                return Err(transport_error(Transport::Body(e), target, stream_timeout))
            }
            Some(Ok(chunk)) => {
                let out = state.translator.push(&chunk);
                // An error before anything reached the client is an ordinary error response.
                if let Some(e) = out.error {
                    return Err(GatewayError::from_provider(e, &target.provider));
                }
                state.take(out)?;
            }
        }
        state.request = std::mem::take(request.get_mut());
        let usage = Arc::clone(&state.usage);
        let events = Events::new(state).boxed();
        Ok((headers, events, usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_headers_keep_every_value_in_order_and_drop_hop_by_hop_ones() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("x-request-id", "r1"),
            ("content-type", "application/json"),
            ("x-multi", "a"),
            ("set-cookie", "s1"),
            ("x-multi", "b"),
            ("set-cookie", "s2"),
            ("x-ratelimit-limit-requests", "10"),
        ] {
            h.append(HeaderName::from_static(n), HeaderValue::from_static(v));
        }
        let got: Vec<(String, String)> = echoed(h)
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert_eq!(
            got,
            pairs(&[
                ("x-request-id", "r1"),
                ("x-multi", "a"),
                ("x-multi", "b"),
                ("x-ratelimit-limit-requests", "10"),
            ])
        );
    }

    #[test]
    fn a_huge_idle_timeout_is_far_off_not_a_panic() {
        let now = tokio::time::Instant::now();
        assert_eq!(
            later(now, Duration::from_secs(2)),
            now + Duration::from_secs(2)
        );
        let far = later(now, Duration::MAX);
        assert!(
            far >= now + Duration::from_secs(86_400 * 365 * 29),
            "{far:?}"
        );
    }
}
