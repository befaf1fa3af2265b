//! What an OpenAI-compatible server sends back, read as `remote::Client` reads it: the body's
//! bytes in network-sized chunks through the server-sent-events parser (`remote::sse`), each
//! event's data through the chunk reader (`remote::reply::ReplyState::event`) until an error
//! or `[DONE]`; the same bytes as a whole reply (`ReplyState::whole`) and as an error body
//! (`remote::reply::error_message`). The first input byte picks where the chunks split: events
//! must not depend on it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use remote::reply::{error_message, ReplyState};
use remote::sse::{SseEvent, SseParser};

/// All events of `body` pushed in chunks whose lengths come from `seed` (0: one push).
fn events(body: &[u8], seed: u8) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut out = Vec::new();
    let mut rest = body;
    let mut state = u32::from(seed);
    while !rest.is_empty() {
        let len = if seed == 0 {
            rest.len()
        } else {
            // A small LCG: lengths 1..=16, so cuts fall inside lines, CRLFs and characters.
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            ((state >> 16) % 16 + 1) as usize
        };
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        out.extend(parser.push(chunk));
        rest = tail;
    }
    out.extend(parser.finish());
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, body)) = data.split_first() else {
        return;
    };
    let whole = events(body, 0);
    assert_eq!(
        events(body, seed),
        whole,
        "events do not depend on chunking"
    );
    let mut state = ReplyState::default();
    let mut text = String::new();
    for event in &whole {
        match state.event(&event.data) {
            Ok(piece) => text.push_str(&piece),
            Err(_) => break,
        }
        if state.done {
            break;
        }
    }
    assert_eq!(state.text, text, "the reply is its pieces");
    let _ = state.complete();
    let body = String::from_utf8_lossy(body);
    let _ = ReplyState::whole(&body);
    let _ = error_message(&body);
});
