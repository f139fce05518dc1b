//! Audio transcription and translation (`/v1/audio/transcriptions`, `/v1/audio/translations`):
//! the multipart body the gateway sends on (the client's fields, then the file, streamed as
//! it arrives), and what an answer counts for pricing (seconds of audio, or tokens).

use bytes::Bytes;
use serde_json::{json, Value};
use switchyard_types::Usage;

use crate::endpoints::{units, BILLABLE_UNITS};
use crate::ProviderError;

/// The multipart framing around a streamed file: what goes before its bytes (every text
/// field, then the file part's head) and what goes after.
pub fn multipart_frame(
    boundary: &str,
    fields: &[(String, String)],
    file_name: &str,
    file_type: &str,
) -> (Bytes, Bytes) {
    let mut head = String::new();
    for (k, v) in fields {
        head.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{v}\r\n",
            escape(k)
        ));
    }
    head.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\nContent-Type: {file_type}\r\n\r\n",
        escape(file_name)
    ));
    (
        Bytes::from(head),
        Bytes::from(format!("\r\n--{boundary}--\r\n")),
    )
}

/// A name inside a quoted header parameter.
fn escape(s: &str) -> String {
    s.replace(['"', '\r', '\n'], "_")
}

/// What a transcription answer counts: `usage` (tokens, or `{"type": "duration", "seconds"}`)
/// or `duration` (verbose_json), in seconds of audio.
pub fn usage(body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(u) = v.get("usage") {
        if let Some(s) = u.get("seconds").and_then(Value::as_f64) {
            return Some(units(0, s));
        }
        let input = u.get("input_tokens").and_then(Value::as_u64).unwrap_or(0);
        let output = u.get("output_tokens").and_then(Value::as_u64).unwrap_or(0);
        let mut out = units(
            input,
            v.get("duration").and_then(Value::as_f64).unwrap_or(0.0),
        );
        out.completion_tokens = output;
        out.total_tokens = input + output;
        return Some(out);
    }
    v.get("duration")
        .and_then(Value::as_f64)
        .map(|d| units(0, d))
}

/// A `verbose_json` answer the gateway asked for (to know the audio's length) reduced to
/// the `json` the client asked for.
pub fn reduce_to_json(body: &[u8]) -> Result<Bytes, ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(ProviderError::malformed)?;
    let mut out = json!({"text": v.get("text").cloned().unwrap_or(Value::Null)});
    if let Some(u) = v.get("usage") {
        out["usage"] = u.clone();
    }
    serde_json::to_vec(&out)
        .map(Bytes::from)
        .map_err(ProviderError::malformed)
}

/// The seconds an answer was billed for, if it says.
pub fn seconds(u: &Usage) -> Option<f64> {
    u.extra.get(BILLABLE_UNITS).and_then(Value::as_f64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn framing_and_usage() {
        let (head, tail) = multipart_frame(
            "b1",
            &[("model".into(), "whisper-1".into())],
            "a\"b.mp3",
            "audio/mpeg",
        );
        let head = std::str::from_utf8(&head).unwrap();
        assert!(head.starts_with(
            "--b1\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
        ));
        assert!(head.ends_with("filename=\"a_b.mp3\"\r\nContent-Type: audio/mpeg\r\n\r\n"));
        assert_eq!(&tail[..], b"\r\n--b1--\r\n");
        assert_eq!(
            seconds(&usage(br#"{"text":"x","duration":12.5}"#).unwrap()),
            Some(12.5)
        );
        let u =
            usage(br#"{"text":"x","usage":{"type":"tokens","input_tokens":7,"output_tokens":3}}"#)
                .unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens), (7, 3));
        assert_eq!(
            seconds(&usage(br#"{"usage":{"type":"duration","seconds":4}}"#).unwrap()),
            Some(4.0)
        );
        assert!(usage(b"plain text").is_none());
        assert_eq!(
            &reduce_to_json(br#"{"text":"hi","duration":1,"segments":[]}"#).unwrap()[..],
            br#"{"text":"hi"}"#
        );
    }
}
