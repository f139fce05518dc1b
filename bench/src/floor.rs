//! The floor: the least any HTTP proxy does, to measure what a hop through a second process
//! costs on this machine before any gateway work.
//!
//! It reads the whole request (a gateway must, to route on the body), sends it on a pooled
//! keep-alive connection to the same path on the upstream, and streams the answer back
//! without reading it. Same runtime shape as the gateway under the benchmark (a multi-thread
//! runtime with one worker), same pinning, TCP_NODELAY on both sides. The gap between this
//! lane and the direct one is the machine's; the gap between the gateway and this lane is
//! the gateway's own.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

type Body = http_body_util::Either<Incoming, Full<Bytes>>;

fn bad_gateway(e: impl std::fmt::Display) -> Response<Body> {
    let mut r = Response::new(http_body_util::Either::Right(Full::new(Bytes::from(
        e.to_string(),
    ))));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

async fn forward(
    req: Request<Incoming>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let (mut parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(bad_gateway(e)),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("http://{upstream}{path}").parse() {
        Ok(u) => u,
        Err(e) => return Ok(bad_gateway(e)),
    };
    parts.headers.remove(http::header::HOST);
    match client
        .request(Request::from_parts(parts, Full::new(body)))
        .await
    {
        Ok(resp) => Ok(resp.map(http_body_util::Either::Left)),
        Err(e) => Ok(bad_gateway(e)),
    }
}

/// Serves the floor proxy on 127.0.0.1:`port` in front of `upstream`, until the process ends.
pub fn serve(port: u16, upstream: SocketAddr) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(http);
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let client = client.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| forward(req, client.clone(), upstream));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    })
}
