//! The LLaMA decoder (as in transformers' `LlamaForCausalLM`): token embeddings, RMSNorm,
//! rotary position embeddings, grouped-query attention with a KV cache, SwiGLU MLP, and a
//! tied or untied output head; Qwen2 (`Qwen2ForCausalLM`) is the same decoder with q/k/v biases.

pub mod adapters;
pub mod cache;
pub mod config;
pub mod generate;
pub mod load;
pub mod model;
pub mod open;
pub mod quantised;
pub(crate) mod rope;
pub mod stream;

pub use cache::KvCache;
pub use config::{DecoderFamily, LlamaConfig};
pub use model::{Llama, Mask};
pub use open::{open, open_with, ChatLlama};
pub use quantised::GgufWeights;
