//! Giving a decoder loaded from a GGUF its matrices' quantised blocks as well, so decoding on
//! the CPU multiplies them directly ([`crate::quant`]); prompts of many tokens keep the f32
//! copies, whose GEMM reuses each weight across rows.

use std::sync::Arc;

use burn::tensor::backend::Backend;

use super::Llama;
use crate::weights::gguf::GgufLlama;
use crate::weights::WeightError;

/// How a GGUF's Q8_0/Q4_0/Q4_1 matrices are multiplied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GgufWeights {
    /// Dequantised to f32 for every product: what transformers does with a GGUF, and the
    /// path the parity tests hold to it.
    #[default]
    F32,
    /// Also kept as blocks, multiplied with 8-bit activations when a few rows pass at a time
    /// (each new token), as llama.cpp does. CPU only: on a GPU the f32 copies stay in use.
    Quantised,
}

/// Attaches every quantised matrix of `source` to the layer of `model` it was loaded into;
/// returns how many. A matrix whose shape disagrees with its layer is an error.
pub fn attach<B: Backend>(
    model: &mut Llama<B>,
    source: &mut GgufLlama,
) -> Result<usize, WeightError> {
    let mut attached = 0;
    for (path, linear) in model.projections_mut() {
        let name = format!("model.{path}.weight");
        if let Some(q) = source.read_quant(&name)? {
            let (d_in, d_out) = linear.dims();
            check(&name, q.dims(), (d_out, d_in))?;
            linear.quant = Some(Arc::new(q));
            attached += 1;
        }
    }
    // A tied head is the embedding matrix (`[vocab, hidden]` either way).
    let head = if model.embed_tokens.is_none() {
        "model.embed_tokens.weight"
    } else {
        "lm_head.weight"
    };
    if let Some(q) = source.read_quant(head)? {
        let [hidden, vocab] = model.lm_head.weight.dims();
        check(head, q.dims(), (vocab, hidden))?;
        model.lm_head_quant = Some(Arc::new(q));
        attached += 1;
    }
    Ok(attached)
}

fn check(name: &str, got: (usize, usize), want: (usize, usize)) -> Result<(), WeightError> {
    if got == want {
        return Ok(());
    }
    Err(WeightError::Config {
        path: name.to_string(),
        reason: format!(
            "quantised matrix is {}×{}, its layer needs {}×{}",
            got.0, got.1, want.0, want.1
        ),
    })
}

/// How many of `model`'s matrices are kept quantised, and the bytes their products read (per
/// decoded token).
pub fn quantised_bytes<B: Backend>(model: &Llama<B>) -> (usize, usize) {
    let all: Vec<usize> = model
        .projections()
        .into_iter()
        .map(|(_, linear)| linear.quant.as_ref().map(|q| q.bytes()))
        .chain([model.lm_head_quant.as_ref().map(|q| q.bytes())])
        .flatten()
        .collect();
    (all.len(), all.iter().sum())
}
