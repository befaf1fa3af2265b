//! Server-sent events, parsed incrementally: bytes go in as they arrive (a chunk may end in the
//! middle of a line or of a UTF-8 character), whole events come out.

/// One event: its `event:` name (OpenAI-compatible servers send none) and its `data:` lines
/// joined with newlines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet ended.
    partial: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns the events they complete. Lines end with `\n` or `\r\n`; a blank
    /// line ends an event; `:` lines are comments (keep-alives).
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while let Some(at) = rest.iter().position(|&b| b == b'\n') {
            self.partial.extend_from_slice(&rest[..at]);
            rest = &rest[at + 1..];
            let mut line = std::mem::take(&mut self.partial);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.line(&String::from_utf8_lossy(&line), &mut out);
        }
        self.partial.extend_from_slice(rest);
        out
    }

    /// The stream ended: an event whose blank line never came is still delivered.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            let mut out = Vec::new();
            self.line(&String::from_utf8_lossy(&line), &mut out);
            if let Some(e) = out.pop() {
                return Some(e);
            }
        }
        self.dispatch()
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            out.extend(self.dispatch());
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value);
            }
            "event" => self.event = Some(value.to_string()),
            // `id` and `retry` matter to browsers reconnecting, not to a reply.
            _ => {}
        }
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        self.data.take().map(|data| SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[SseEvent]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let stream = "data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":\r\ndata: \"é\"}\r\n\r\ndata: [DONE]\n\n";
        let bytes = stream.as_bytes();
        // Every split point, including inside the two-byte é.
        for cut in 0..bytes.len() {
            let mut p = SseParser::new();
            let mut got = p.push(&bytes[..cut]);
            got.extend(p.push(&bytes[cut..]));
            assert_eq!(p.finish(), None);
            assert_eq!(
                data(&got),
                ["{\"a\":1}", "{\"b\":\n\"é\"}", "[DONE]"],
                "cut {cut}"
            );
        }
    }

    #[test]
    fn a_last_event_without_its_blank_line_is_kept_and_names_are_read() {
        let mut p = SseParser::new();
        let got = p.push(b"event: error\ndata: {\"error\":{}}\n\ndata: tail");
        assert_eq!(got[0].event.as_deref(), Some("error"));
        assert_eq!(p.finish().unwrap().data, "tail");
        let mut p = SseParser::new();
        assert!(
            p.push(b"id: 3\nretry: 10\n\n").is_empty(),
            "no data, no event"
        );
        assert_eq!(p.finish(), None);
    }
}
