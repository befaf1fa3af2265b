//! The composed model: tiles through InternViT, the pixel shuffle and the projector, merged
//! into the prompt's token embeddings where the image tokens are, then the decoder.

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::clip::config::Activation;
use crate::clip::model::{activate, linear_rows};
use crate::internvit::model::{PatchGridError, TileShapeError};
use crate::internvit::InternVit;
use crate::llama::{KvCache, Llama, Mask};
use crate::llava::model::merge_image_features;

/// layer_norm → linear_1 → activation → linear_2: shuffled vision features to the decoder's
/// embedding size.
#[derive(Module, Debug)]
pub struct InternVlProjector<B: Backend> {
    pub layer_norm: LayerNorm<B>,
    pub linear_1: Linear<B>,
    pub linear_2: Linear<B>,
    #[module(skip)]
    pub act: Activation,
}

impl<B: Backend> InternVlProjector<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let h = linear_rows(&self.linear_1, self.layer_norm.forward(x));
        linear_rows(&self.linear_2, activate(self.act, h))
    }
}

/// Prompts and tiles that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternVlError {
    #[error("the prompt has {tokens} image tokens but {tiles} tile(s) give {features} features ({per_tile} per tile)")]
    ImageTokens {
        tokens: usize,
        tiles: usize,
        features: usize,
        per_tile: usize,
    },
    #[error(transparent)]
    TileShape(#[from] TileShapeError),
    #[error(transparent)]
    PatchGrid(#[from] PatchGridError),
}

/// Merges each `k × k` block of neighbouring patches into one token `k²` times as wide, as
/// transformers' `InternVLModel.pixel_shuffle` orders it: the token's channels run over the
/// block's rows (outermost), then its columns, then the patch's own channels; tokens follow
/// the blocks row by row.
///
/// # Shapes
/// - x: `[n, rows, cols, channels]` → `[n, rows/k · cols/k, channels·k²]`
pub fn pixel_shuffle<B: Backend>(x: Tensor<B, 4>, k: usize) -> Tensor<B, 3> {
    let [n, rows, cols, c] = x.dims();
    x.reshape([n, rows, cols / k, c * k])
        .swap_dims(1, 2)
        .reshape([n, cols / k, rows / k, c * k * k])
        .swap_dims(1, 2)
        .reshape([n, (rows / k) * (cols / k), c * k * k])
}

#[derive(Module, Debug)]
pub struct InternVl<B: Backend> {
    pub vision: InternVit<B>,
    pub projector: InternVlProjector<B>,
    pub lm: Llama<B>,
    pub image_token_id: u32,
    /// Patches merged per side (see [`pixel_shuffle`]).
    pub shuffle: usize,
}

impl<B: Backend> InternVl<B> {
    /// Prompt tokens (and features) per tile: the shuffled patch grid.
    pub fn tokens_per_tile(&self) -> usize {
        let side = self.vision.grid() / self.shuffle;
        side * side
    }

    /// Projected features of each tile, in the order the prompt's image tokens take them.
    ///
    /// # Shapes
    /// - pixels: `[tiles, channels, size, size]` → `[tiles, tokens_per_tile, text_hidden]`
    pub fn image_features(&self, pixels: Tensor<B, 4>) -> Result<Tensor<B, 3>, InternVlError> {
        // The tower takes any grid; the prompt holds tokens for tiles of the configured size
        // (as transformers' InternVLModel, which reshapes the features to that square grid).
        let dims = pixels.dims();
        let v = &self.vision;
        if dims[1] != v.channels || dims[2] != v.image_size || dims[3] != v.image_size {
            return Err(TileShapeError {
                expected: v.image_size,
                channels: v.channels,
                got: dims,
            }
            .into());
        }
        let h = self.vision.forward(pixels)?;
        let [n, t, d] = h.dims();
        let grid = self.vision.grid();
        // The CLS token goes; the patches are a grid again.
        let patches = h.slice([0..n, 1..t, 0..d]).reshape([n, grid, grid, d]);
        Ok(self.projector.forward(pixel_shuffle(patches, self.shuffle)))
    }

    /// Token embeddings with every image token replaced by the next tile feature.
    ///
    /// # Shapes
    /// - ids: `batch × seq` row-major; pixels: `[tiles, channels, size, size]` in prompt order
    /// - returns: `[batch, seq, text_hidden]`
    pub fn embed(
        &self,
        ids: &[i64],
        shape: [usize; 2],
        pixels: Option<Tensor<B, 4>>,
        device: &B::Device,
    ) -> Result<Tensor<B, 3>, InternVlError> {
        let image = self.image_token_id as i64;
        let tokens = ids.iter().filter(|&&t| t == image).count();
        let tiles = pixels.as_ref().map(|p| p.dims()[0]).unwrap_or(0);
        let per_tile = self.tokens_per_tile();
        if tokens != tiles * per_tile {
            return Err(InternVlError::ImageTokens {
                tokens,
                tiles,
                features: tiles * per_tile,
                per_tile,
            });
        }
        let features = match pixels.filter(|_| tiles > 0) {
            Some(p) => {
                let f = self.image_features(p)?;
                let hidden = f.dims()[2];
                Some(f.reshape([tiles * per_tile, hidden]))
            }
            None => None,
        };
        Ok(merge_image_features(
            &self.lm,
            ids,
            shape,
            self.image_token_id,
            features,
            device,
        ))
    }

    /// Logits for a batch of prompts with their tiles.
    ///
    /// # Shapes
    /// - returns: `[batch, seq, vocab]`
    pub fn forward(
        &self,
        ids: &[i64],
        shape: [usize; 2],
        mask: &Mask,
        pixels: Option<Tensor<B, 4>>,
        cache: Option<&mut KvCache<B>>,
    ) -> Result<Tensor<B, 3>, InternVlError> {
        let device = self.lm.lm_head.weight.device();
        let embeds = self.embed(ids, shape, pixels, &device)?;
        Ok(self.lm.forward_embeds(embeds, mask, cache))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{cpu_device, Cpu};
    use burn::tensor::TensorData;

    #[test]
    fn pixel_shuffle_orders_channels_as_transformers() {
        // torch: x = arange(72).reshape(1, 4, 6, 3), InternVLModel.pixel_shuffle(x, 0.5)
        // reshaped to [1, 6, 12]; its first two tokens.
        let x = Tensor::<Cpu, 4>::from_data(
            TensorData::new((0..72).map(|v| v as f32).collect::<Vec<_>>(), [1, 4, 6, 3]),
            &cpu_device(),
        );
        let out = pixel_shuffle(x, 2);
        assert_eq!(out.dims(), [1, 6, 12]);
        let out = out.into_data().to_vec::<f32>().unwrap();
        let first: Vec<f32> = [0, 1, 2, 3, 4, 5, 18, 19, 20, 21, 22, 23]
            .map(|v| v as f32)
            .into();
        let second: Vec<f32> = [6, 7, 8, 9, 10, 11, 24, 25, 26, 27, 28, 29]
            .map(|v| v as f32)
            .into();
        assert_eq!(out[..12], first[..]);
        assert_eq!(out[12..24], second[..]);
    }
}
