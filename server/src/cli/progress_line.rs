//! Progress on stderr for the foreground commands: one line redrawn in place on a terminal,
//! one line per step when stderr is a pipe or a file (so logs stay readable).

use std::io::{IsTerminal, Write};

/// Writes progress lines to stderr.
pub struct ProgressLine {
    terminal: bool,
    /// A line is open (drawn with `\r`, not yet ended).
    open: bool,
}

impl Default for ProgressLine {
    fn default() -> Self {
        Self::new(std::io::stderr().is_terminal())
    }
}

impl ProgressLine {
    pub fn new(terminal: bool) -> Self {
        ProgressLine {
            terminal,
            open: false,
        }
    }

    /// The text to write for one step.
    pub fn render(&mut self, text: &str) -> String {
        if self.terminal {
            self.open = true;
            format!("\r{text} ")
        } else {
            format!("{text}\n")
        }
    }

    /// The text that ends an open line before other output.
    pub fn finish(&mut self) -> &'static str {
        if std::mem::take(&mut self.open) {
            "\n"
        } else {
            ""
        }
    }

    /// Shows one step.
    pub fn show(&mut self, text: &str) {
        let out = self.render(text);
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }

    /// Prints a line of its own (ending an open progress line first).
    pub fn line(&mut self, text: &str) {
        let end = self.finish();
        eprintln!("{end}{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_gets_one_line_per_step_and_a_terminal_one_line_redrawn() {
        let mut pipe = ProgressLine::new(false);
        let out: String = ["1/80 plain", "2/80 plain"]
            .iter()
            .map(|t| pipe.render(t))
            .collect();
        assert_eq!(out, "1/80 plain\n2/80 plain\n");
        assert_eq!(pipe.finish(), "");
        let mut tty = ProgressLine::new(true);
        let out: String = ["1/80", "2/80"].iter().map(|t| tty.render(t)).collect();
        assert_eq!(out, "\r1/80 \r2/80 ");
        assert_eq!(tty.finish(), "\n");
        assert_eq!(tty.finish(), "", "ended once");
    }
}
