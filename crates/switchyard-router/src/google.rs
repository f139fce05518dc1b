//! Google service-account auth for Vertex AI: a JWT signed with the account's key (RS256) is
//! exchanged at the account's `token_uri` for an access token, which is cached until a minute
//! before it expires. One exchange at a time per deployment; requests meanwhile wait for it.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::upstream::Client;
use crate::GatewayError;

/// The scope Vertex AI needs.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// The fields of a service-account key file this needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    /// The account.
    pub client_email: String,
    /// Its private key, PEM (PKCS#8).
    pub private_key: String,
    /// Where tokens are issued.
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
    /// The key's project.
    #[serde(default)]
    pub project_id: Option<String>,
}

impl std::fmt::Debug for ServiceAccount {
    // The private key is a credential: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish_non_exhaustive()
    }
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Access tokens for one service account.
pub struct GoogleAuth {
    account: ServiceAccount,
    key: jsonwebtoken::EncodingKey,
    cached: Mutex<Option<(String, Instant)>>,
}

impl std::fmt::Debug for GoogleAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleAuth")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl GoogleAuth {
    /// Reads the account; fails on a key that cannot sign.
    pub fn new(account: ServiceAccount) -> Result<GoogleAuth, String> {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(account.private_key.as_bytes()).map_err(
            |e| format!("the service account's private_key is not a usable RSA key: {e}"),
        )?;
        Ok(GoogleAuth {
            account,
            key,
            cached: Mutex::new(None),
        })
    }

    /// The account's project, if the key file names one.
    pub fn project(&self) -> Option<&str> {
        self.account.project_id.as_deref()
    }

    /// A valid access token, from the cache or a new exchange.
    pub async fn token(&self, client: &Client) -> Result<String, GatewayError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            iss: &self.account.client_email,
            scope: SCOPE,
            aud: &self.account.token_uri,
            iat: now,
            exp: now + 3600,
        };
        let jwt = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &self.key,
        )
        .map_err(|e| {
            GatewayError::misconfigured(format!("cannot sign the Google auth token request: {e}"))
        })?;
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={jwt}"
        );
        let (status, body) = client
            .post(
                &self.account.token_uri,
                "application/x-www-form-urlencoded",
                Bytes::from(form),
                Duration::from_secs(30),
            )
            .await
            .map_err(|e| GatewayError::unreachable(format!("Google token endpoint: {e}")))?;
        if status != 200 {
            let mut e = GatewayError::bad_gateway(format!(
                "Google token endpoint refused the service account ({status}): {}",
                String::from_utf8_lossy(&body)
            ));
            e.status = if status == 400 || status == 401 {
                401
            } else {
                502
            };
            return Err(e);
        }
        let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|e| {
            GatewayError::bad_gateway(format!("Google token endpoint answered no token: {e}"))
        })?;
        let life = answer.expires_in.unwrap_or(3600).saturating_sub(60).max(1);
        let until = Instant::now() + Duration::from_secs(life);
        *cached = Some((answer.access_token.clone(), until));
        Ok(answer.access_token)
    }
}
