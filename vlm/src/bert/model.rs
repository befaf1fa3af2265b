//! BERT's modules and forward pass (post-norm layers, absolute positions, padding mask).

use burn::module::Module;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use crate::clip::config::Activation;
use crate::clip::model::{activate, linear_rows, ClipAttention};

/// One post-norm encoder layer.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    /// query/key/value/output projections with biases (the same attention as CLIP's).
    pub attention: ClipAttention<B>,
    pub attention_norm: LayerNorm<B>,
    pub intermediate: Linear<B>,
    pub output: Linear<B>,
    pub output_norm: LayerNorm<B>,
    #[module(skip)]
    pub act: Activation,
}

impl<B: Backend> BertLayer<B> {
    /// # Shapes
    /// - x: `[batch, seq, hidden]`; keep: `batch × seq`, false for padding (`None`: no
    ///   padding) → `[batch, seq, hidden]`
    pub fn forward(&self, x: Tensor<B, 3>, keep: Option<&[bool]>) -> Tensor<B, 3> {
        let a = self.attention.forward_masked(x.clone(), keep);
        let h = self.attention_norm.forward(x + a);
        let m = linear_rows(
            &self.output,
            activate(self.act, linear_rows(&self.intermediate, h.clone())),
        );
        self.output_norm.forward(h + m)
    }
}

#[derive(Module, Debug)]
pub struct Bert<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub token_type_embeddings: Embedding<B>,
    pub embeddings_norm: LayerNorm<B>,
    pub layers: Vec<BertLayer<B>>,
}

impl<B: Backend> Bert<B> {
    /// Longest input the position table covers.
    pub fn max_positions(&self) -> usize {
        self.position_embeddings.weight.dims()[0]
    }

    /// The embedding output and the output of each of the first `layers` layers (BERTScore's
    /// `num_layers` truncates the model the same way), for right- or left-padded ids with a
    /// 0/1 `attention` mask; token types are 0.
    ///
    /// # Shapes
    /// - ids, attention: `batch × seq` row-major; returns `layers + 1` tensors `[batch, seq, hidden]`
    pub fn hidden_states(
        &self,
        ids: &[i64],
        attention: &[i64],
        [b, s]: [usize; 2],
        layers: usize,
        device: &B::Device,
    ) -> Vec<Tensor<B, 3>> {
        let ids_t = Tensor::<B, 2, Int>::from_data(TensorData::new(ids.to_vec(), [b, s]), device);
        let positions: Vec<i64> = (0..b).flat_map(|_| 0..s as i64).collect();
        let pos_t = Tensor::<B, 2, Int>::from_data(TensorData::new(positions, [b, s]), device);
        let types = Tensor::<B, 2, Int>::zeros([b, s], device);
        let x = self.word_embeddings.forward(ids_t)
            + self.position_embeddings.forward(pos_t)
            + self.token_type_embeddings.forward(types);
        let mut x = self.embeddings_norm.forward(x);
        let keep: Vec<bool> = attention.iter().map(|&a| a != 0).collect();
        let keep = keep.contains(&false).then_some(&keep[..]);
        let mut out = vec![x.clone()];
        for layer in self.layers.iter().take(layers) {
            x = layer.forward(x, keep);
            out.push(x.clone());
        }
        out
    }
}
