//! InternViT's modules and forward pass.

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, Linear, RmsNorm};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::clip::config::Activation;
use crate::clip::model::{activate, attend, linear_rows, patches};

/// LayerNorm or RMSNorm, as `norm_type` says.
#[derive(Module, Debug)]
pub enum VisionNorm<B: Backend> {
    Layer(LayerNorm<B>),
    Rms(RmsNorm<B>),
}

impl<B: Backend> VisionNorm<B> {
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            VisionNorm::Layer(n) => n.forward(x),
            VisionNorm::Rms(n) => n.forward(x),
        }
    }
}

/// Self-attention over all tokens of a tile, with optional q/k RMSNorm over the whole
/// projection (before the heads split, as InternViT-6B and transformers do).
#[derive(Module, Debug)]
pub struct VitAttention<B: Backend> {
    pub q_proj: Linear<B>,
    pub k_proj: Linear<B>,
    pub v_proj: Linear<B>,
    pub projection_layer: Linear<B>,
    pub q_norm: Option<RmsNorm<B>>,
    pub k_norm: Option<RmsNorm<B>>,
    pub n_heads: usize,
}

impl<B: Backend> VitAttention<B> {
    /// # Shapes
    /// - x: `[n, tokens, hidden]` → the same
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let norm = |y: Tensor<B, 3>, norm: &Option<RmsNorm<B>>| match norm {
            Some(m) => m.forward(y),
            None => y,
        };
        let q = norm(linear_rows(&self.q_proj, x.clone()), &self.q_norm);
        let k = norm(linear_rows(&self.k_proj, x.clone()), &self.k_norm);
        let v = linear_rows(&self.v_proj, x);
        linear_rows(&self.projection_layer, attend(q, k, v, self.n_heads, None))
    }
}

/// fc1 → activation → fc2.
#[derive(Module, Debug)]
pub struct VitMlp<B: Backend> {
    pub fc1: Linear<B>,
    pub fc2: Linear<B>,
    #[module(skip)]
    pub act: Activation,
}

/// One pre-norm layer whose two branches are scaled per channel (`lambda_1`, `lambda_2`).
#[derive(Module, Debug)]
pub struct VitLayer<B: Backend> {
    pub layernorm_before: VisionNorm<B>,
    pub attention: VitAttention<B>,
    pub lambda_1: Param<Tensor<B, 1>>,
    pub layernorm_after: VisionNorm<B>,
    pub mlp: VitMlp<B>,
    pub lambda_2: Param<Tensor<B, 1>>,
}

impl<B: Backend> VitLayer<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let d = x.dims()[2];
        let scale = |l: &Param<Tensor<B, 1>>| l.val().reshape([1, 1, d]);
        let a = self
            .attention
            .forward(self.layernorm_before.forward(x.clone()));
        let x = x + a * scale(&self.lambda_1);
        let m = self.layernorm_after.forward(x.clone());
        let m = linear_rows(
            &self.mlp.fc2,
            activate(self.mlp.act, linear_rows(&self.mlp.fc1, m)),
        );
        x + m * scale(&self.lambda_2)
    }
}

/// Tiles the tower cannot take (or, for the composed model, of another size than its prompt
/// expects).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tiles must be {expected}×{expected} pixels with {channels} channels, got {got:?}")]
pub struct TileShapeError {
    pub expected: usize,
    pub channels: usize,
    pub got: [usize; 4],
}

/// Tiles whose sides are not whole patches.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tiles must have {channels} channels and sides in whole {patch} px patches, got {got:?}")]
pub struct PatchGridError {
    pub patch: usize,
    pub channels: usize,
    pub got: [usize; 4],
}

/// The whole tower.
#[derive(Module, Debug)]
pub struct InternVit<B: Backend> {
    /// The patch convolution (stride = kernel) as a matrix `[channels·p·p, hidden]` with bias.
    pub patch_embedding: Linear<B>,
    pub cls_token: Param<Tensor<B, 1>>,
    /// `[patches + 1, hidden]`; None without absolute position embeddings.
    pub position_embeddings: Option<Param<Tensor<B, 2>>>,
    pub layers: Vec<VitLayer<B>>,
    /// The final LayerNorm; None for mean-pooling towers (InternVL's).
    pub layernorm: Option<LayerNorm<B>>,
    pub patch_size: usize,
    pub image_size: usize,
    pub channels: usize,
}

impl<B: Backend> InternVit<B> {
    /// Patches along one side of a tile.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }

    /// Patch, CLS and position embeddings; for another grid than the trained one, the
    /// position embeddings interpolated as transformers does.
    ///
    /// # Shapes
    /// - pixels: `[n, channels, height, width]` → `[n, patches + 1, hidden]`
    pub fn embed(&self, pixels: Tensor<B, 4>) -> Tensor<B, 3> {
        let [n, _, height, width] = pixels.dims();
        let x = linear_rows(&self.patch_embedding, patches(pixels, self.patch_size));
        let d = x.dims()[2];
        let cls = self.cls_token.val().reshape([1, 1, d]).expand([n, 1, d]);
        let x = Tensor::cat(vec![cls, x], 1);
        let Some(pos) = &self.position_embeddings else {
            return x;
        };
        let pos = pos.val();
        let (grid, rows, cols) = (
            self.grid(),
            height / self.patch_size,
            width / self.patch_size,
        );
        let pos = if (rows, cols) == (grid, grid) {
            pos
        } else {
            let t = pos.dims()[0];
            let patch = pos.clone().slice([1..t, 0..d]);
            let patch = super::interpolate::resize_grid(patch, [grid, grid], [rows, cols]);
            Tensor::cat(vec![pos.slice([0..1, 0..d]), patch], 0)
        };
        x + pos.unsqueeze_dim(0)
    }

    /// The last hidden state (after the final LayerNorm when the tower has one), for tiles of
    /// any size in whole patches.
    ///
    /// # Shapes
    /// - pixels: `[n, channels, height, width]` → `[n, patches + 1, hidden]`
    pub fn forward(&self, pixels: Tensor<B, 4>) -> Result<Tensor<B, 3>, PatchGridError> {
        let dims = pixels.dims();
        let p = self.patch_size;
        let whole = |side: usize| side > 0 && side.is_multiple_of(p);
        if dims[1] != self.channels || !whole(dims[2]) || !whole(dims[3]) {
            return Err(PatchGridError {
                patch: p,
                channels: self.channels,
                got: dims,
            });
        }
        let mut x = self.embed(pixels);
        for layer in &self.layers {
            x = layer.forward(x);
        }
        Ok(match &self.layernorm {
            Some(n) => n.forward(x),
            None => x,
        })
    }
}
