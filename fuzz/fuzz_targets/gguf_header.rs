//! A GGUF file as opening a language model reads it (`vlm::llama::open`): the header, metadata
//! and tensor table (`vlm::weights::gguf::Gguf::open`), the LLaMA view and its config
//! (`GgufLlama::open`), every tensor (dequantized, Q/K rows unpermuted), and the tokenizer
//! built from the metadata. Any bytes are a model or an error: no panic, and no allocation
//! larger than the file justifies (libFuzzer's malloc limit reports one).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vlm::tokenizer::Tokenizer;
use vlm::weights::gguf::{Gguf, GgufLlama};
use vlm::weights::TensorSource;

#[path = "common/scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let path = scratch::write("gguf", data);
    if let Ok(mut g) = Gguf::open(&path) {
        let names: Vec<String> = g.tensors.keys().cloned().collect();
        for name in &names {
            let _ = g.read_raw(name);
        }
        let _ = Tokenizer::from_gguf(&g, "fuzz.gguf");
    }
    if let Ok(mut llama) = GgufLlama::open(&path) {
        for name in llama.names() {
            let _ = llama.read(&name);
        }
    }
});
