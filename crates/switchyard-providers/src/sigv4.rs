//! AWS Signature Version 4 for Bedrock calls, with the `aws-sigv4` crate.
//!
//! A signature covers the method, the (already percent-encoded) URL, the headers and the body,
//! and holds for a few minutes around the time it was made. Signing is pure given that time,
//! so it lives here and the router calls [`sign`] with the clock right before it sends
//! (a retry is signed anew).

use std::time::SystemTime;

use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::{HeaderName, HeaderValue};

use crate::{TranslateError, UpstreamRequest};

/// The signing name of Bedrock's runtime.
pub const SERVICE: &str = "bedrock";

/// Static AWS credentials and the region to sign for.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    /// `AKIA…` / `ASIA…`.
    pub access_key_id: String,
    /// The secret key. Never printed.
    pub secret_access_key: String,
    /// The session token of temporary credentials. Never printed.
    pub session_token: Option<String>,
    /// The region the request is signed for (`us-east-1`).
    pub region: String,
}

impl std::fmt::Debug for AwsCredentials {
    // Keys and tokens are credentials: only the region is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &"***")
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .field("region", &self.region)
            .finish()
    }
}

fn config(msg: impl std::fmt::Display) -> TranslateError {
    TranslateError::Config(format!("cannot sign the AWS request: {msg}"))
}

/// Signs `up` for `SERVICE` in `creds.region` at `now`: adds `x-amz-date`,
/// `x-amz-security-token` (temporary credentials) and `authorization`. Every header already
/// on the request whose value is text is signed, and the host comes from the URL.
pub fn sign(
    up: &mut UpstreamRequest,
    creds: &AwsCredentials,
    now: SystemTime,
) -> Result<(), TranslateError> {
    sign_for(up, creds, SERVICE, now)
}

/// [`sign`] for another AWS service (`s3` also gets the `x-amz-content-sha256` header S3
/// requires).
pub fn sign_for(
    up: &mut UpstreamRequest,
    creds: &AwsCredentials,
    service: &str,
    now: SystemTime,
) -> Result<(), TranslateError> {
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "switchyard",
    )
    .into();
    let params: http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(&creds.region)
        .name(service)
        .time(now)
        .settings({
            let mut s = SigningSettings::default();
            if service == "s3" {
                s.payload_checksum_kind = http_request::PayloadChecksumKind::XAmzSha256;
            }
            s
        })
        .build()
        .map_err(config)?
        .into();
    // The signer reads the host from the URL and panics without one: check first.
    let uri: http::Uri = up.url.parse().map_err(config)?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(config(format!("`{}` has no host", up.url)));
    }
    let headers = up
        .headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)));
    let request = SignableRequest::new(
        up.method.as_str(),
        up.url.as_str(),
        headers,
        SignableBody::Bytes(&up.body),
    )
    .map_err(config)?;
    let (instructions, _signature) = http_request::sign(request, &params)
        .map_err(config)?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    for h in headers {
        let name = HeaderName::from_bytes(h.name().as_bytes()).map_err(config)?;
        let mut value = HeaderValue::try_from(h.value()).map_err(config)?;
        value.set_sensitive(h.sensitive() || name == http::header::AUTHORIZATION);
        up.headers.retain(|(n, _)| *n != name);
        up.headers.push((name, value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use bytes::Bytes;
    use http::Method;

    fn creds(token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_owned),
            region: "us-east-1".into(),
        }
    }

    fn request() -> UpstreamRequest {
        UpstreamRequest {
            method: Method::POST,
            url: "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse".into(),
            headers: vec![(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body: Bytes::from_static(br#"{"messages":[]}"#),
        }
    }

    fn header<'a>(up: &'a UpstreamRequest, name: &str) -> Option<&'a str> {
        up.headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.to_str().unwrap())
    }

    #[test]
    fn adds_date_token_and_authorization_for_bedrock_in_the_region() {
        // 2024-01-02T03:04:05Z
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_704_164_645);
        let mut up = request();
        sign(&mut up, &creds(Some("session-token")), now).unwrap();
        assert_eq!(header(&up, "x-amz-date"), Some("20240102T030405Z"));
        assert_eq!(header(&up, "x-amz-security-token"), Some("session-token"));
        let auth = header(&up, "authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/us-east-1/bedrock/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            ),
            "{auth}"
        );
        assert!(up
            .headers
            .iter()
            .any(|(n, v)| n == http::header::AUTHORIZATION && v.is_sensitive()));
        // Same inputs, same signature; another body, another one.
        let mut again = request();
        sign(&mut again, &creds(Some("session-token")), now).unwrap();
        assert_eq!(header(&again, "authorization"), Some(auth));
        let mut other = request();
        other.body = Bytes::from_static(b"{}");
        sign(&mut other, &creds(Some("session-token")), now).unwrap();
        assert_ne!(header(&other, "authorization"), Some(auth));
        // No session token, no token header.
        let mut plain = request();
        sign(&mut plain, &creds(None), now).unwrap();
        assert!(header(&plain, "x-amz-security-token").is_none());
    }

    #[test]
    fn secrets_stay_out_of_debug_and_hostless_urls_are_refused() {
        let text = format!("{:?}", creds(Some("sess-XYZ")));
        assert!(!text.contains("AKIDEXAMPLE") && !text.contains("EXAMPLEKEY"));
        assert!(!text.contains("sess-XYZ") && text.contains("us-east-1"));
        let mut up = request();
        up.url = "/model/x/converse".into();
        assert!(matches!(
            sign(&mut up, &creds(None), SystemTime::now()),
            Err(TranslateError::Config(_))
        ));
    }
}
