//! The composed model: image features through the projector, merged into the prompt's token
//! embeddings where the `<image>` tokens are, then the decoder.

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::config::FeatureStrategy;
use crate::clip::config::Activation;
use crate::clip::model::{activate, linear_rows};
use crate::clip::ClipVision;
use crate::llama::{KvCache, Llama, Mask};

/// Token embeddings with every `image_token` replaced by the next row of `features`, row by
/// row through the batch (as transformers' `masked_scatter`). The caller has checked that there
/// is one feature row per image token.
///
/// # Shapes
/// - ids: `batch × seq` row-major; features: `[image tokens, hidden]`
/// - returns: `[batch, seq, hidden]`
pub(crate) fn merge_image_features<B: Backend>(
    lm: &Llama<B>,
    ids: &[i64],
    [batch, seq]: [usize; 2],
    image_token: u32,
    features: Option<Tensor<B, 2>>,
    device: &B::Device,
) -> Tensor<B, 3> {
    let image = image_token as i64;
    // Image tokens may lie outside the text vocabulary: embed them as token 0 first.
    let text_ids: Vec<i64> = ids
        .iter()
        .map(|&t| if t == image { 0 } else { t })
        .collect();
    let ids_t: Tensor<B, 2, Int> =
        Tensor::from_data(TensorData::new(text_ids, [batch, seq]), device);
    let text = lm.embed(ids_t);
    let Some(features) = features else {
        return text;
    };
    let hidden = text.dims()[2];
    // One gather picks, for every position, its text row or its image feature row.
    let mut source: Vec<i64> = (0..(batch * seq) as i64).collect();
    for (k, p) in (0..ids.len()).filter(|&i| ids[i] == image).enumerate() {
        source[p] = (batch * seq + k) as i64;
    }
    let all = Tensor::cat(vec![text.reshape([batch * seq, hidden]), features], 0);
    let index: Tensor<B, 1, Int> =
        Tensor::from_data(TensorData::new(source, [batch * seq]), device);
    all.select(0, index).reshape([batch, seq, hidden])
}

/// linear_1 → activation → linear_2: vision features to the decoder's embedding size.
#[derive(Module, Debug)]
pub struct Projector<B: Backend> {
    pub linear_1: Linear<B>,
    pub linear_2: Linear<B>,
    #[module(skip)]
    pub act: Activation,
}

impl<B: Backend> Projector<B> {
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.linear_2
            .forward(activate(self.act, linear_rows(&self.linear_1, x)))
    }
}

/// Prompts and images that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlavaError {
    #[error("the prompt has {tokens} image tokens but {images} image(s) give {features} features ({per_image} per image): put one <image> per image in the prompt")]
    ImageTokens {
        tokens: usize,
        images: usize,
        features: usize,
        per_image: usize,
    },
    #[error("images must be {expected}×{expected} pixels with {channels} channels, got {got:?}")]
    PixelShape {
        expected: usize,
        channels: usize,
        got: [usize; 4],
    },
}

#[derive(Module, Debug)]
pub struct Llava<B: Backend> {
    pub vision: ClipVision<B>,
    pub projector: Projector<B>,
    pub lm: Llama<B>,
    pub image_token_id: u32,
    pub feature_layers: Vec<usize>,
    #[module(skip)]
    pub strategy: FeatureStrategy,
    pub image_size: usize,
    pub channels: usize,
    /// Prompt tokens (and features) per image, from [`super::LlavaConfig::tokens_per_image`].
    pub tokens_per_image: usize,
}

impl<B: Backend> Llava<B> {
    /// Projected features of each image, in the order the prompt's image token runs take them.
    ///
    /// # Shapes
    /// - pixels: `[n, channels, size, size]` → `[n, tokens_per_image, text_hidden]`
    pub fn image_features(&self, pixels: Tensor<B, 4>) -> Result<Tensor<B, 3>, LlavaError> {
        let dims = pixels.dims();
        if dims[1] != self.channels || dims[2] != self.image_size || dims[3] != self.image_size {
            return Err(LlavaError::PixelShape {
                expected: self.image_size,
                channels: self.channels,
                got: dims,
            });
        }
        let deepest = self.feature_layers.iter().copied().max().unwrap_or(0);
        // Layers past the deepest feature layer are not needed.
        let out = self.vision.forward_layers(pixels, deepest);
        let picked: Vec<Tensor<B, 3>> = self
            .feature_layers
            .iter()
            .map(|&l| {
                let h = out.hidden_states[l].clone();
                let [n, t, d] = h.dims();
                match self.strategy {
                    FeatureStrategy::Default => h.slice([0..n, 1..t, 0..d]),
                    FeatureStrategy::Full => h,
                }
            })
            .collect();
        Ok(self.projector.forward(Tensor::cat(picked, 2)))
    }

    /// Token embeddings with every image token replaced by the next image feature, row by row
    /// through the batch (as transformers' `masked_scatter`).
    ///
    /// # Shapes
    /// - ids: `batch × seq` row-major; pixels: `[n_images, channels, size, size]`
    /// - returns: `[batch, seq, text_hidden]`
    pub fn embed(
        &self,
        ids: &[i64],
        [batch, seq]: [usize; 2],
        pixels: Option<Tensor<B, 4>>,
        device: &B::Device,
    ) -> Result<Tensor<B, 3>, LlavaError> {
        let image = self.image_token_id as i64;
        let tokens = ids.iter().filter(|&&t| t == image).count();
        let per_image = self.tokens_per_image;
        let images = pixels.as_ref().map(|p| p.dims()[0]).unwrap_or(0);
        if tokens != images * per_image {
            return Err(LlavaError::ImageTokens {
                tokens,
                images,
                features: images * per_image,
                per_image,
            });
        }
        let features = match pixels.filter(|_| images > 0) {
            Some(p) => {
                let f = self.image_features(p)?;
                let hidden = f.dims()[2];
                Some(f.reshape([images * per_image, hidden]))
            }
            None => None,
        };
        Ok(merge_image_features(
            &self.lm,
            ids,
            [batch, seq],
            self.image_token_id,
            features,
            device,
        ))
    }

    /// Logits for a batch of prompts with their images.
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
    ) -> Result<Tensor<B, 3>, LlavaError> {
        let device = self.lm.lm_head.weight.device();
        let embeds = self.embed(ids, shape, pixels, &device)?;
        Ok(self.lm.forward_embeds(embeds, mask, cache))
    }
}
