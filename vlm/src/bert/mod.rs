//! BERT encoders (Hugging Face `BertModel` checkpoints such as all-MiniLM-L6-v2): the hidden
//! states BERTScore compares.

pub mod config;
pub mod load;
pub mod model;

pub use config::BertConfig;
pub use load::{open, Encoder};
pub use model::Bert;
