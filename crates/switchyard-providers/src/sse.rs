//! Incremental server-sent-events framing.
//!
//! Splits a byte stream into complete events without copying them: each event is a slice of
//! the buffer frozen into [`Bytes`], so a pass-through stream forwards the provider's own bytes.
//! A hand-written framer rather than a crate: the crates that parse SSE hand back decoded
//! strings, and re-encoding every chunk would cost the copy this gateway exists to avoid.

use bytes::{Bytes, BytesMut};

/// One complete event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event as received, the blank line that ends it included.
    pub raw: Bytes,
    /// The `data:` lines joined by `\n`, or `None` for comment-only events.
    pub data: Option<Bytes>,
    /// The `event:` field, when present.
    pub event: Option<Bytes>,
}

/// Buffers stream bytes and hands out complete events.
#[derive(Debug, Default)]
pub struct Framer {
    buf: BytesMut,
    /// Bytes of `buf` already scanned for line ends.
    scanned: usize,
    /// Start of the line being scanned.
    line_start: usize,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that do not yet form a complete event.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next complete event, if the buffer holds one.
    pub fn next_event(&mut self) -> Option<Event> {
        while let Some(off) = memchr::memchr(b'\n', &self.buf[self.scanned..]) {
            let nl = self.scanned + off;
            let line = trim_cr(&self.buf[self.line_start..nl]);
            self.scanned = nl + 1;
            if line.is_empty() {
                let raw = self.buf.split_to(self.scanned).freeze();
                self.scanned = 0;
                self.line_start = 0;
                if raw.iter().all(|b| *b == b'\n' || *b == b'\r') {
                    continue; // stray blank lines between events
                }
                return Some(parse_event(raw));
            }
            self.line_start = self.scanned;
        }
        None
    }

    /// The stream ended: whatever is left, as an event, if it holds anything.
    pub fn finish(&mut self) -> Option<Event> {
        if let Some(e) = self.next_event() {
            return Some(e);
        }
        let rest = std::mem::take(&mut self.buf).freeze();
        self.scanned = 0;
        self.line_start = 0;
        if rest.iter().all(|b| b.is_ascii_whitespace()) {
            return None;
        }
        let mut raw = BytesMut::from(&rest[..]);
        if !raw.ends_with(b"\n") {
            raw.extend_from_slice(b"\n");
        }
        raw.extend_from_slice(b"\n");
        Some(parse_event(raw.freeze()))
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_event(raw: Bytes) -> Event {
    let mut lines: Vec<Bytes> = Vec::new();
    let mut event = None;
    let mut pos = 0;
    while pos < raw.len() {
        let end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i);
        let line = trim_cr(&raw[pos..end]);
        let line_off = pos;
        pos = end + 1;
        let (field, value_off) = match memchr::memchr(b':', line) {
            Some(0) => continue, // comment
            Some(i) => {
                let skip = usize::from(line.get(i + 1) == Some(&b' '));
                (&line[..i], i + 1 + skip)
            }
            None => (line, line.len()),
        };
        let value = raw.slice(line_off + value_off..line_off + line.len());
        match field {
            b"data" => lines.push(value),
            b"event" => event = Some(value),
            _ => {}
        }
    }
    let data = match lines.len() {
        0 => None,
        1 => lines.pop(),
        _ => Some(Bytes::from(lines.join(&b"\n"[..]))),
    };
    Event { raw, data, event }
}

/// Frames one JSON payload as an SSE data event.
pub fn data_event(json: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(json.len() + 8);
    b.extend_from_slice(b"data: ");
    b.extend_from_slice(json);
    b.extend_from_slice(b"\n\n");
    b.freeze()
}

/// The OpenAI end-of-stream event.
pub const DONE_EVENT: &[u8] = b"data: [DONE]\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut Framer) -> Vec<Event> {
        std::iter::from_fn(|| f.next_event()).collect()
    }

    #[test]
    fn splits_events_across_arbitrary_chunk_boundaries() {
        let stream = b"data: {\"a\":1}\n\ndata: {\"b\":2}\r\n\r\n: keepalive\n\nevent: x\ndata: l1\ndata: l2\n\ndata: [DONE]\n\n";
        for cut in 1..stream.len() {
            let mut f = Framer::new();
            let mut got = Vec::new();
            for piece in stream.chunks(cut) {
                f.push(piece);
                got.extend(all(&mut f));
            }
            assert!(f.finish().is_none());
            let datas: Vec<Option<&[u8]>> = got.iter().map(|e| e.data.as_deref()).collect();
            assert_eq!(
                datas,
                vec![
                    Some(&b"{\"a\":1}"[..]),
                    Some(&b"{\"b\":2}"[..]),
                    None,
                    Some(&b"l1\nl2"[..]),
                    Some(&b"[DONE]"[..])
                ],
                "cut {cut}"
            );
            assert_eq!(got[3].event.as_deref(), Some(&b"x"[..]));
            let raw: Vec<u8> = got.iter().flat_map(|e| e.raw.to_vec()).collect();
            assert_eq!(raw, stream.to_vec(), "raw bytes pass through unchanged");
        }
    }

    #[test]
    fn finish_returns_an_unterminated_last_event() {
        let mut f = Framer::new();
        f.push(b"data: {\"x\":1}");
        assert!(f.next_event().is_none());
        let e = f.finish().unwrap();
        assert_eq!(e.data.as_deref(), Some(&b"{\"x\":1}"[..]));
        assert_eq!(&e.raw[..], b"data: {\"x\":1}\n\n");
    }
}
