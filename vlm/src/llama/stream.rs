//! Streaming a reply as text: what can be shown after each token, and where a stop string
//! ends it. Text that might be the start of a stop string, or half of a multi-byte character,
//! is held back until the next token decides.

/// Turns the decoded text so far into newly showable chunks.
#[derive(Clone, Debug, Default)]
pub struct TextStream {
    stops: Vec<String>,
    shown: usize,
    stopped: bool,
}

impl TextStream {
    pub fn new(stops: &[String]) -> Self {
        TextStream {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            shown: 0,
            stopped: false,
        }
    }

    /// True once a stop string appeared.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Given the whole reply decoded so far, returns the text to show now.
    pub fn push(&mut self, text: &str) -> String {
        self.advance(text, false)
    }

    /// The reply ended (no more tokens): whatever was held back is shown.
    pub fn finish(&mut self, text: &str) -> String {
        self.advance(text, true)
    }

    fn advance(&mut self, text: &str, last: bool) -> String {
        if self.stopped {
            return String::new();
        }
        let stop_at = self
            .stops
            .iter()
            .filter_map(|s| text.find(s.as_str()))
            .min();
        self.stopped = stop_at.is_some();
        let end = match stop_at {
            Some(at) => at,
            None if last => text.len(),
            None => self.safe_end(text),
        };
        self.take(text, end)
    }

    fn take(&mut self, text: &str, end: usize) -> String {
        if end <= self.shown || !text.is_char_boundary(end) || !text.is_char_boundary(self.shown) {
            return String::new();
        }
        let chunk = text[self.shown..end].to_string();
        self.shown = end;
        chunk
    }

    /// The end of what is certain: before a trailing replacement character (an incomplete
    /// UTF-8 sequence) and before a suffix that begins some stop string.
    fn safe_end(&self, text: &str) -> usize {
        let mut end = text.trim_end_matches('\u{FFFD}').len();
        for stop in &self.stops {
            for (i, _) in text[..end].char_indices().filter(|&(i, _)| i >= self.shown) {
                if stop.starts_with(&text[i..end]) {
                    end = i;
                    break;
                }
            }
        }
        end
    }
}

#[cfg(test)]
mod tests {
    use super::TextStream;

    fn run(stops: &[&str], steps: &[&str]) -> (String, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut s = TextStream::new(&stops);
        let mut out = String::new();
        for t in steps {
            out += &s.push(t);
        }
        out += &s.finish(steps.last().unwrap_or(&""));
        (out, s.stopped())
    }

    #[test]
    fn stop_string_split_across_tokens_is_never_shown() {
        let mut s = TextStream::new(&["USER:".to_string()]);
        assert_eq!(s.push("Normal. US"), "Normal. ");
        assert_eq!(s.push("Normal. USER"), "");
        assert_eq!(s.push("Normal. USER: next"), "");
        assert!(s.stopped());
        assert_eq!(s.finish("Normal. USER: next"), "");
    }

    #[test]
    fn held_back_text_is_shown_when_it_is_not_a_stop() {
        assert_eq!(
            run(&["USER:"], &["A US", "A USB port"]),
            ("A USB port".into(), false)
        );
        assert_eq!(
            run(&["END"], &["E"]),
            ("E".into(), false),
            "flushed at the end"
        );
        assert_eq!(run(&[], &["a", "ab"]), ("ab".into(), false));
    }

    #[test]
    fn incomplete_characters_wait_for_their_bytes() {
        let mut s = TextStream::new(&[]);
        assert_eq!(s.push("caf\u{FFFD}"), "caf");
        assert_eq!(s.push("café"), "é");
    }
}
