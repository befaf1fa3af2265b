//! The QA annotations reader (`anomaly::dataset::qa::parse_jsonl`), as an import runs it on a
//! dataset's `qa.jsonl`: any text is either records or per-line errors, never a panic, and
//! accepted records survive writing and reading back unchanged.
#![no_main]

use std::collections::HashSet;

use anomaly::dataset::qa::{parse_jsonl, to_jsonl};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let known: HashSet<String> = ["good/000.png", "bad/001.png"].map(String::from).into();
    let _ = parse_jsonl("fuzz.jsonl", text, Some(&known));
    if let Ok(records) = parse_jsonl("fuzz.jsonl", text, None) {
        let again = parse_jsonl("again.jsonl", &to_jsonl(&records), None);
        assert_eq!(
            again.as_ref().ok(),
            Some(&records),
            "a written record reads back"
        );
    }
});
