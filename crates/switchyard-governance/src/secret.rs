//! Virtual key secrets: generated from the OS random source, stored only as a hash, compared in
//! constant time.

use base64::Engine;
use sha2::{Digest, Sha256};

/// A new key: `sk-` and 32 random bytes (256 bits), URL-safe base64.
pub fn generate_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "sk-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// What is stored for a key: the SHA-256 hex of the whole `sk-...` string, as LiteLLM stores
/// it, so keys imported from a LiteLLM database keep working.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The display form LiteLLM shows for a key: `sk-...` and its last four characters.
pub fn key_name(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

/// Whether a presented string is already a key hash (LiteLLM's admin routes accept either).
pub fn looks_like_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hashed_like_litellm() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("sk-") && a.len() == 46, "{a}");
        // printf 'sk-1234' | sha256sum
        assert_eq!(
            hash_key("sk-1234"),
            "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
        );
        assert!(looks_like_hash(&hash_key(&a)));
        assert!(!looks_like_hash(&a));
        assert_eq!(key_name("sk-abcdefgh"), "sk-...efgh");
    }
}
