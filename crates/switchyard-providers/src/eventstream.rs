//! Incremental decoding of AWS event-stream framing (`application/vnd.amazon.eventstream`),
//! the binary framing of Bedrock's ConverseStream.
//!
//! A message is: total length (u32 BE), headers length (u32 BE), the CRC32 of those 8 bytes,
//! the headers, the payload, and the CRC32 of everything before it. A header is a name
//! (u8 length, bytes), a type (u8) and a value whose size the type decides (type 7, a string,
//! carries a u16 BE length). Both CRCs are checked: a frame that fails either ends the stream.
//!
//! Hand-written rather than `aws-smithy-eventstream`: the framing is a few dozen lines, that
//! crate wants its input in a `bytes_utils::SegmentedBuf`, and this decoder works on the same
//! growable buffer pattern as the SSE framer ([`crate::sse::Framer`]). CRC32 is `crc32fast`.

use bytes::{Buf, Bytes, BytesMut};

/// Bytes before the headers: total length, headers length, prelude CRC.
const PRELUDE: usize = 12;
/// The message CRC at the end.
const TRAILER: usize = 4;
/// The largest message accepted: AWS caps payloads at 16 MiB and headers at 128 KiB.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024 + 128 * 1024 + PRELUDE + TRAILER;

/// One decoded message: its string headers and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Headers whose value is a string (type 7), in order. Other header types are skipped.
    pub headers: Vec<(String, String)>,
    /// The payload (JSON for Bedrock).
    pub payload: Bytes,
}

impl Message {
    /// The value of a string header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why the stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The CRC of the first 8 bytes does not match.
    #[error(
        "event-stream prelude CRC mismatch (expected {expected:#010x}, computed {computed:#010x})"
    )]
    PreludeCrc {
        /// The CRC the frame carried.
        expected: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// The CRC of the whole message does not match.
    #[error(
        "event-stream message CRC mismatch (expected {expected:#010x}, computed {computed:#010x})"
    )]
    MessageCrc {
        /// The CRC the frame carried.
        expected: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// The lengths in the prelude cannot describe a message.
    #[error("event-stream frame has impossible lengths (total {total}, headers {headers})")]
    Length {
        /// The total length.
        total: usize,
        /// The headers length.
        headers: usize,
    },
    /// The headers section cannot be read.
    #[error("event-stream frame has malformed headers: {0}")]
    Header(&'static str),
}

/// Buffers stream bytes and hands out complete, verified messages.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not yet form a complete message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message; `Ok(None)` until one has fully arrived. After an error the
    /// stream cannot be resynchronised: the caller ends it.
    pub fn next_message(&mut self) -> Result<Option<Message>, DecodeError> {
        if self.buf.len() < PRELUDE {
            return Ok(None);
        }
        let total = be32(&self.buf[0..4]) as usize;
        let headers_len = be32(&self.buf[4..8]) as usize;
        let expected = be32(&self.buf[8..12]);
        let computed = crc32fast::hash(&self.buf[0..8]);
        if expected != computed {
            return Err(DecodeError::PreludeCrc { expected, computed });
        }
        if !(PRELUDE + TRAILER..=MAX_MESSAGE).contains(&total)
            || headers_len > total - PRELUDE - TRAILER
        {
            return Err(DecodeError::Length {
                total,
                headers: headers_len,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let expected = be32(&self.buf[total - TRAILER..total]);
        let computed = crc32fast::hash(&self.buf[..total - TRAILER]);
        if expected != computed {
            return Err(DecodeError::MessageCrc { expected, computed });
        }
        let mut frame = self.buf.split_to(total).freeze();
        frame.advance(PRELUDE);
        let headers = parse_headers(&frame[..headers_len])?;
        let payload = frame.slice(headers_len..total - PRELUDE - TRAILER);
        Ok(Some(Message { headers, payload }))
    }
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

/// Reads the headers section; string values are kept, the others skipped by their size.
fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
        if b.len() < n {
            return Err(DecodeError::Header(
                "a header runs past the headers section",
            ));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let name_len = usize::from(take(&mut b, 1)?[0]);
        let name = std::str::from_utf8(take(&mut b, name_len)?)
            .map_err(|_| DecodeError::Header("a header name is not UTF-8"))?
            .to_owned();
        let kind = take(&mut b, 1)?[0];
        let fixed = match kind {
            0 | 1 => 0, // bool true / false: no value bytes
            2 => 1,     // byte
            3 => 2,     // short
            4 => 4,     // int
            5 | 8 => 8, // long, timestamp
            9 => 16,    // uuid
            6 | 7 => {
                // byte array, string: u16 BE length, then the bytes
                let len = take(&mut b, 2)?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let value = take(&mut b, len)?;
                if kind == 7 {
                    let value = std::str::from_utf8(value)
                        .map_err(|_| DecodeError::Header("a string header is not UTF-8"))?;
                    out.push((name, value.to_owned()));
                }
                continue;
            }
            _ => return Err(DecodeError::Header("unknown header value type")),
        };
        take(&mut b, fixed)?;
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Encodes one message with string headers (the test side of the framing).
    pub(crate) fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (name, value) in headers {
            h.push(name.len() as u8);
            h.extend_from_slice(name.as_bytes());
            h.push(7);
            h.extend_from_slice(&(value.len() as u16).to_be_bytes());
            h.extend_from_slice(value.as_bytes());
        }
        let total = PRELUDE + h.len() + payload.len() + TRAILER;
        let mut m = Vec::with_capacity(total);
        m.extend_from_slice(&(total as u32).to_be_bytes());
        m.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let prelude_crc = crc32fast::hash(&m);
        m.extend_from_slice(&prelude_crc.to_be_bytes());
        m.extend_from_slice(&h);
        m.extend_from_slice(payload);
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        m
    }

    /// The `empty_message` and `payload_one_str` vectors of AWS's event-stream test suite
    /// (aws-c-event-stream), so the CRCs are checked against bytes this code did not make.
    #[test]
    fn reference_vectors_decode_and_encode() {
        let empty = [
            0, 0, 0, 0x10, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff,
        ];
        assert_eq!(encode(&[], b""), empty);
        let mut payload = vec![0, 0, 0, 0x1d, 0, 0, 0, 0, 0xfd, 0x52, 0x8c, 0x5a];
        payload.extend_from_slice(b"{'foo':'bar'}");
        payload.extend_from_slice(&[0xc3, 0x65, 0x39, 0x36]);
        assert_eq!(encode(&[], b"{'foo':'bar'}"), payload);
        let mut d = Decoder::new();
        d.push(&empty);
        d.push(&payload);
        let m = d.next_message().unwrap().unwrap();
        assert!(m.headers.is_empty() && m.payload.is_empty());
        let m = d.next_message().unwrap().unwrap();
        assert_eq!(&m.payload[..], b"{'foo':'bar'}");
        assert!(d.next_message().unwrap().is_none());
    }

    #[test]
    fn frames_split_across_pushes_and_several_in_one() {
        let a = encode(
            &[(":event-type", "messageStart"), (":message-type", "event")],
            br#"{"role":"assistant"}"#,
        );
        let b = encode(&[(":event-type", "contentBlockDelta")], br#"{"x":1}"#);
        let mut all = a.clone();
        all.extend_from_slice(&b);
        // Byte by byte: nothing until a frame is whole.
        let mut d = Decoder::new();
        let mut got = Vec::new();
        for byte in &all {
            d.push(std::slice::from_ref(byte));
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].header(":event-type"), Some("messageStart"));
        assert_eq!(got[0].header(":message-type"), Some("event"));
        assert_eq!(&got[0].payload[..], br#"{"role":"assistant"}"#);
        assert_eq!(&got[1].payload[..], br#"{"x":1}"#);
        assert_eq!(d.pending(), 0);
        // Both in one push.
        let mut d = Decoder::new();
        d.push(&all);
        assert!(d.next_message().unwrap().is_some());
        assert!(d.next_message().unwrap().is_some());
        assert!(d.next_message().unwrap().is_none());
    }

    #[test]
    fn bad_crcs_and_lengths_are_errors() {
        let good = encode(&[(":event-type", "x")], b"{}");
        let mut bad = good.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let mut d = Decoder::new();
        d.push(&bad);
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::MessageCrc { .. })
        ));
        // A flipped payload byte fails the message CRC too.
        let mut bad = good.clone();
        bad[PRELUDE + 17] ^= 1;
        let mut d = Decoder::new();
        d.push(&bad);
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::MessageCrc { .. })
        ));
        // A damaged length fails the prelude CRC, before the decoder waits for 4 GB.
        let mut bad = good.clone();
        bad[0] = 0x7f;
        let mut d = Decoder::new();
        d.push(&bad[..PRELUDE]);
        assert!(matches!(
            d.next_message(),
            Err(DecodeError::PreludeCrc { .. })
        ));
        // A prelude with a valid CRC but impossible lengths.
        let mut p = Vec::new();
        p.extend_from_slice(&8u32.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32fast::hash(&p);
        p.extend_from_slice(&crc.to_be_bytes());
        let mut d = Decoder::new();
        d.push(&p);
        assert!(matches!(d.next_message(), Err(DecodeError::Length { .. })));
    }

    #[test]
    fn other_header_types_are_skipped() {
        // A bool, an int and a uuid before a string header.
        let mut h = Vec::new();
        h.extend_from_slice(&[1, b'b', 0]);
        h.extend_from_slice(&[1, b'i', 4, 0, 0, 0, 7]);
        h.extend_from_slice(&[1, b'u', 9]);
        h.extend_from_slice(&[0u8; 16]);
        h.extend_from_slice(&[1, b's', 7, 0, 2, b'o', b'k']);
        let total = PRELUDE + h.len() + TRAILER;
        let mut m = Vec::new();
        m.extend_from_slice(&(total as u32).to_be_bytes());
        m.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        m.extend_from_slice(&h);
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        let mut d = Decoder::new();
        d.push(&m);
        let msg = d.next_message().unwrap().unwrap();
        assert_eq!(msg.headers, vec![("s".to_owned(), "ok".to_owned())]);
    }
}
