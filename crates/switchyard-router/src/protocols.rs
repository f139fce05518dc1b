//! What each TLS upstream speaks, learnt from ALPN, so a burst to an HTTP/2 host opens one
//! connection per pool instead of one per request.
//!
//! hyper-util's client takes a "connecting lock" per host only when it is built HTTP/2-only;
//! with HTTP/1.1 and HTTP/2 by ALPN it cannot know the protocol before connecting, so every
//! request of a burst that finds no connection starts its own TCP and TLS handshake, and all
//! but one are thrown away once ALPN says `h2`. That happens at start-up, whenever a further
//! pool is first used, and after a quiet spell closed the idle connections.
//!
//! So the gateway remembers, per `https` host, what ALPN said ([`Protocols`], filled in by
//! the [`Learning`] connector):
//! - a host never connected to gets one *probe*: the first request connects, and the
//!   others of its burst wait until that connection has said which protocol it speaks;
//! - `h2` hosts are then sent through HTTP/2-only clients, whose connecting lock makes a
//!   burst wait for one connection per pool;
//! - HTTP/1.1 hosts (and a host whose connection failed) go through the ALPN clients as
//!   before, a connection per concurrent request, without waiting for one another.
//!
//! An HTTP/2-only request that fails puts its host back on ALPN until a new connection says
//! `h2` again, so a host that stopped speaking HTTP/2 costs one failed request, not all.
//! Plain `http` hosts never negotiate and are not looked up.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};

use http::uri::Scheme;
use http::Uri;
use hyper_util::client::legacy::connect::Connection;
use tokio::sync::watch;

/// How the request for one host is to be sent.
#[derive(Debug)]
pub enum Route {
    /// The ALPN clients (HTTP/1.1, a plain `http` host, or not known yet).
    Alpn,
    /// The HTTP/2-only clients; the host, to demote it if the request fails.
    Http2(Arc<str>),
    /// The first request to a host: the ALPN clients, and the host's other requests wait
    /// until its connection reports (or the probe drops).
    Probe(Probe),
}

/// What is known of one host.
#[derive(Debug)]
enum Learnt {
    /// Its first connection is being made; waiters subscribe, and are woken when the
    /// sender drops (the entry is replaced).
    Probing(watch::Sender<()>),
    /// Speaks HTTP/2 (ALPN `h2`).
    Http2,
    /// HTTP/1.1, or a connection failed, or an HTTP/2-only request did.
    Alpn,
}

/// The protocols learnt per `https` host (`authority` as the request URL spells it).
#[derive(Debug, Default)]
pub struct Protocols {
    hosts: RwLock<hashbrown::HashMap<Arc<str>, Learnt>>,
    /// The hosts whose protocol is known (`true`: HTTP/2), kept beside `hosts` under its
    /// write lock: what every request to a known host reads, from a lock-free map (papaya),
    /// so workers on several cores do not meet on the lock. A host never leaves it.
    settled: papaya::HashMap<Arc<str>, bool, hashbrown::DefaultHashBuilder>,
}

/// The host of an `https` URI, the only kind ALPN applies to.
fn tls_host(uri: &Uri) -> Option<&str> {
    if uri.scheme() != Some(&Scheme::HTTPS) {
        return None;
    }
    uri.authority().map(|a| a.as_str())
}

impl Protocols {
    /// How to send a request to `uri`; waits while another request's connection is finding
    /// out what the host speaks.
    pub async fn route(self: &Arc<Self>, uri: &Uri) -> Route {
        let Some(host) = tls_host(uri) else {
            return Route::Alpn;
        };
        if let Some((h, h2)) = self.settled.pin().get_key_value(host) {
            return if *h2 {
                Route::Http2(Arc::clone(h))
            } else {
                Route::Alpn
            };
        }
        loop {
            let mut probing = {
                let hosts = self.hosts.read().unwrap_or_else(PoisonError::into_inner);
                match hosts.get_key_value(host) {
                    Some((h, Learnt::Http2)) => return Route::Http2(Arc::clone(h)),
                    Some((_, Learnt::Alpn)) => return Route::Alpn,
                    Some((_, Learnt::Probing(done))) => done.subscribe(),
                    None => {
                        drop(hosts);
                        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
                        // Another request may have started the probe since the read.
                        match hosts.get(host) {
                            Some(Learnt::Probing(done)) => done.subscribe(),
                            Some(_) => continue,
                            None => {
                                let host: Arc<str> = Arc::from(host);
                                hosts.insert(
                                    Arc::clone(&host),
                                    Learnt::Probing(watch::channel(()).0),
                                );
                                return Route::Probe(Probe {
                                    protocols: Arc::clone(self),
                                    host,
                                });
                            }
                        }
                    }
                }
            };
            // Err once the probe's entry is replaced: then look again.
            let _ = probing.changed().await;
        }
    }

    /// A connection to `uri` is up, and ALPN said `h2` or not.
    pub fn connected(&self, uri: &Uri, h2: bool) {
        if let Some(host) = tls_host(uri) {
            self.set(host, h2);
        }
    }

    /// A connection to `uri` failed: a probe gives way to ALPN, so the waiting requests
    /// connect (and fail, or not) each on its own rather than one after another.
    pub fn connect_failed(&self, uri: &Uri) {
        if let Some(host) = tls_host(uri) {
            self.settle_probe(host);
        }
    }

    /// An HTTP/2-only request to `host` failed: back to ALPN until a connection says `h2`.
    pub fn demote(&self, host: &str) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((h, l @ Learnt::Http2)) = hosts.get_key_value_mut(host) {
            *l = Learnt::Alpn;
            self.settled.pin().insert(Arc::clone(h), false);
        }
    }

    /// `host`'s probe ends without an answer (its connection failed, or its request ended
    /// before connecting): ALPN, and the waiters go on.
    fn settle_probe(&self, host: &str) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((h, l @ Learnt::Probing(_))) = hosts.get_key_value_mut(host) {
            *l = Learnt::Alpn;
            self.settled.pin().insert(Arc::clone(h), false);
        }
    }

    /// `host` speaks HTTP/2 (`h2`) or not.
    fn set(&self, host: &str, h2: bool) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        let learnt = if h2 { Learnt::Http2 } else { Learnt::Alpn };
        let host = match hosts.get_key_value_mut(host) {
            Some((h, l)) => {
                *l = learnt;
                Arc::clone(h)
            }
            None => {
                let h: Arc<str> = Arc::from(host);
                hosts.insert(Arc::clone(&h), learnt);
                h
            }
        };
        self.settled.pin().insert(host, h2);
    }

    /// What is known of `host`: `Some(true)` HTTP/2, `Some(false)` ALPN, `None` nothing yet
    /// or a probe under way.
    #[cfg(test)]
    fn known(&self, host: &str) -> Option<bool> {
        let hosts = self.hosts.read().unwrap_or_else(PoisonError::into_inner);
        match hosts.get(host)? {
            Learnt::Http2 => Some(true),
            Learnt::Alpn => Some(false),
            Learnt::Probing(_) => None,
        }
    }
}

/// The first request to a host; if it ends before its connection reported, the host goes
/// to ALPN and the waiting requests go on.
#[derive(Debug)]
pub struct Probe {
    protocols: Arc<Protocols>,
    host: Arc<str>,
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.protocols.settle_probe(&self.host);
    }
}

/// A connector that tells [`Protocols`] what each new connection negotiated.
#[derive(Clone, Debug)]
pub struct Learning<C> {
    inner: C,
    protocols: Arc<Protocols>,
}

impl<C> Learning<C> {
    /// `inner`, reporting to `protocols`.
    pub fn new(inner: C, protocols: Arc<Protocols>) -> Learning<C> {
        Learning { inner, protocols }
    }
}

type Connecting<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<C> tower_service::Service<Uri> for Learning<C>
where
    C: tower_service::Service<Uri>,
    C::Response: Connection + Send + 'static,
    C::Error: Send + 'static,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = C::Error;
    type Future = Connecting<C::Response, C::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), C::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let protocols = Arc::clone(&self.protocols);
        let connecting = self.inner.call(dst.clone());
        Box::pin(async move {
            match connecting.await {
                Ok(io) => {
                    protocols.connected(&dst, io.connected().is_negotiated_h2());
                    Ok(io)
                }
                Err(e) => {
                    protocols.connect_failed(&dst);
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn a_hosts_first_request_probes_and_the_rest_wait_for_its_connection() {
        let p = Arc::new(Protocols::default());
        let u = uri("https://api.example.com/v1/chat/completions");
        let Route::Probe(probe) = p.route(&u).await else {
            panic!("the first request probes")
        };
        // A second request waits while the probe connects.
        let waiting = tokio::spawn({
            let (p, u) = (Arc::clone(&p), u.clone());
            async move { p.route(&u).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "waits for the probe's connection");
        p.connected(&uri("https://api.example.com"), true);
        match waiting.await.unwrap() {
            Route::Http2(h) => assert_eq!(&*h, "api.example.com"),
            r => panic!("{r:?}"),
        }
        // The probe's request ending later changes nothing.
        drop(probe);
        assert_eq!(p.known("api.example.com"), Some(true));
        // A failed HTTP/2-only request demotes the host until a connection says h2 again.
        p.demote("api.example.com");
        assert!(matches!(p.route(&u).await, Route::Alpn));
        p.connected(&u, true);
        assert!(matches!(p.route(&u).await, Route::Http2(_)));
    }

    #[tokio::test]
    async fn http1_hosts_failed_probes_and_plain_http_use_alpn_without_waiting() {
        let p = Arc::new(Protocols::default());
        // Plain http: never looked up.
        assert!(matches!(
            p.route(&uri("http://127.0.0.1:8080/v1")).await,
            Route::Alpn
        ));
        assert_eq!(p.known("127.0.0.1:8080"), None);
        // HTTP/1.1 over TLS.
        let h1 = uri("https://h1.example.com/v1");
        let probe = p.route(&h1).await;
        assert!(matches!(probe, Route::Probe(_)));
        p.connected(&h1, false);
        assert!(matches!(p.route(&h1).await, Route::Alpn));
        // A probe whose connection fails lets the waiters go, on ALPN.
        let down = uri("https://down.example.com/v1");
        let _probe = p.route(&down).await;
        let waiting = tokio::spawn({
            let (p, u) = (Arc::clone(&p), down.clone());
            async move { p.route(&u).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished());
        p.connect_failed(&down);
        assert!(matches!(waiting.await.unwrap(), Route::Alpn));
        // A probe dropped before it connected does the same.
        let gone = uri("https://gone.example.com/v1");
        let probe = p.route(&gone).await;
        drop(probe);
        assert_eq!(p.known("gone.example.com"), Some(false));
    }
}
