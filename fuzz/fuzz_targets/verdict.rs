//! The verdict parser (`anomaly::verdict::parse_verdict`) on any model reply: it always
//! answers, and never panics on odd text (case folding that changes byte lengths, markers at
//! the very end, lone punctuation).
#![no_main]

use anomaly::verdict::parse_verdict;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Replies reach the parser as Strings: lossy decoding is what a remote reply gets.
    let text = String::from_utf8_lossy(data);
    let _ = parse_verdict(&text);
});
