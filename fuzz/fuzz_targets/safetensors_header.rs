//! A safetensors file as every model folder, adapter and checkpoint is read: the header
//! (`vlm::weights::SafeTensors::open`, which maps the file and checks each tensor's byte range),
//! then each tensor as f32, transposed, and as i64. Any bytes are tensors or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vlm::weights::safetensors::read_i64;
use vlm::weights::{SafeTensors, TensorSource};

#[path = "common/scratch.rs"]
mod scratch;

fuzz_target!(|data: &[u8]| {
    let path = scratch::write("safetensors", data);
    let Ok(mut st) = SafeTensors::open(&path) else {
        return;
    };
    for name in st.names() {
        let _ = st.dtype(&name);
        let _ = st.read(&name);
        let _ = st.read_transposed(&name);
        let _ = read_i64(&mut st, &name);
    }
});
