//! Which servers the gateway trusts when it calls providers, as LiteLLM configures it.
//!
//! - By default, the Mozilla roots LiteLLM also ships (certifi there, webpki-roots here).
//! - `litellm_settings.ssl_verify: <path>` (or `SSL_VERIFY=<path>`), else `SSL_CERT_FILE`: a
//!   PEM bundle that replaces them, for private CAs and TLS-inspecting corporate proxies.
//! - `SSL_VERIFY=False`, or `ssl_verify: false`: no certificate check at all. Handshake
//!   signatures are still verified (the peer must hold the key of the certificate it sent);
//!   only who that certificate names, and who issued it, go unchecked. Logged as a warning.
//!
//! `SSL_VERIFY` wins over `ssl_verify`, as in LiteLLM.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use switchyard_config::Config;

/// How the client checks upstream certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// The built-in Mozilla roots.
    Default,
    /// Only the CAs of this PEM bundle.
    Bundle(String),
    /// No certificate check.
    Off,
}

fn falsy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "false" | "0" | "no" | "off"
    )
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | ""
    )
}

impl Trust {
    /// What `config` (and the environment) asks for, as LiteLLM reads it: `SSL_VERIFY` if
    /// set, else `ssl_verify`, else on; when on without a path of its own, `SSL_CERT_FILE`
    /// (if set) names the bundle.
    pub fn from_config(config: &Config) -> Trust {
        let configured = config
            .file
            .litellm_settings
            .ssl_verify
            .as_ref()
            .and_then(|v| v.get())
            .map(str::to_owned);
        match config.env_var("SSL_VERIFY").or(configured) {
            Some(v) if falsy(&v) => Trust::Off,
            Some(v) if !truthy(&v) => Trust::Bundle(v),
            _ => match config.env_var("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
                Some(path) => Trust::Bundle(path),
                None => Trust::Default,
            },
        }
    }

    /// The rustls configuration for this trust, or None for the built-in roots (which the
    /// connector builder sets up itself).
    pub fn client_config(&self) -> Result<Option<rustls::ClientConfig>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        match self {
            Trust::Default => Ok(None),
            Trust::Bundle(path) => {
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| format!("CA bundle {path}: {e}"))?;
                for cert in certs {
                    let cert = cert.map_err(|e| format!("CA bundle {path}: {e}"))?;
                    roots
                        .add(cert)
                        .map_err(|e| format!("CA bundle {path}: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!("CA bundle {path} holds no certificate"));
                }
                Ok(Some(
                    builder.with_root_certificates(roots).with_no_client_auth(),
                ))
            }
            Trust::Off => {
                tracing::warn!(
                    "ssl_verify is off: provider certificates are not checked, and anyone on the path can read the traffic"
                );
                Ok(Some(
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(NoCertificateCheck(provider)))
                        .with_no_client_auth(),
                ))
            }
        }
    }
}

/// `ssl_verify: false`: any certificate is accepted, but the handshake must be signed by it.
#[derive(Debug)]
struct NoCertificateCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
