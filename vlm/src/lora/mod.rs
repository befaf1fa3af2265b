//! LoRA adapters with PEFT's conventions: a low-rank update `x · A · B · scaling` beside a
//! frozen `Linear`, B starting at zero (so a fresh adapter changes nothing), scaling `alpha / r`
//! or, with rsLoRA, `alpha / √r`; merged into the base weight for inference and unmerged again.
//! Which layers get one is chosen by module-name patterns, as PEFT's `target_modules`.

use crate::FieldError;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};

use serde::{Deserialize, Serialize};

use crate::quant::{kernel, matmul_shared, QuantMatrix};
use crate::weights::{HostTensor, WeightError};
use std::sync::Arc;

mod peft;
pub use peft::{read_adapter, write_adapter, AdapterFiles};

/// An adapter's hyper-parameters (PEFT's `LoraConfig` meanings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank r of the update (PEFT `r`).
    pub rank: usize,
    /// The update is scaled by alpha / r (PEFT `lora_alpha`).
    pub alpha: f64,
    /// Dropout on the adapter's input during training (PEFT `lora_dropout`).
    pub dropout: f64,
    /// Scale by alpha / √r instead (rank-stabilised LoRA).
    pub use_rslora: bool,
    /// Module names that get adapters, e.g. `q_proj` (PEFT `target_modules` as a list).
    pub targets: Vec<String>,
}

impl Default for LoraConfig {
    /// The language model's projections, rank 8, alpha 16, no dropout.
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            use_rslora: false,
            targets: [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        }
    }
}

/// PEFT's name for an adapter tensor of the module at `module` (a transformers path such as
/// `model.layers.0.self_attn.q_proj`), `which` being `A` or `B`.
pub fn peft_key(module: &str, which: char) -> String {
    format!("base_model.model.{module}.lora_{which}.weight")
}

impl LoraConfig {
    /// Why this configuration cannot train, naming the field.
    pub fn validate(&self) -> Result<(), FieldError> {
        let bad = |field: &str, reason: String| Err(FieldError::new(field, reason).within("lora"));
        if self.rank == 0 {
            return bad("rank", "must be at least 1".into());
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return bad("alpha", format!("must be positive, got {}", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(
                "dropout",
                format!("must be in [0, 1), got {}", self.dropout),
            );
        }
        if self.targets.is_empty() {
            return bad("targets", "name at least one module".into());
        }
        Ok(())
    }

    /// The factor on the low-rank product.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }

    /// True when the module named `name` (a dotted path) gets an adapter: its last component
    /// equals a target, as PEFT matches a list of `target_modules`.
    pub fn targets_module(&self, name: &str) -> bool {
        let last = name.rsplit('.').next().unwrap_or(name);
        self.targets.iter().any(|t| t == last || t == name)
    }
}

/// One adapter for a `Linear` of `d_in → d_out`.
#[derive(Module, Debug)]
pub struct Lora<B: Backend> {
    /// `[d_in, rank]`: PEFT's `lora_A.weight` (`[rank, d_in]`) transposed.
    pub a: Param<Tensor<B, 2>>,
    /// `[rank, d_out]`: PEFT's `lora_B.weight` (`[d_out, rank]`) transposed.
    pub b: Param<Tensor<B, 2>>,
    pub scaling: f64,
    pub dropout: Dropout,
}

/// A `Linear` that may carry an adapter: the decoder's projections, so a model runs with or
/// without LoRA through one code path.
#[derive(Module, Debug)]
pub struct LoraLinear<B: Backend> {
    pub base: Linear<B>,
    pub lora: Option<Lora<B>>,
    /// The adapter is folded into `base` (forward skips the low-rank product).
    pub merged: bool,
    /// `base`'s weight as a GGUF's quantised blocks, for products of a few rows at a time
    /// (decoding on the CPU, [`crate::quant`]); None for every other model. Only set for
    /// inference: the product leaves the autodiff graph.
    pub quant: Option<Arc<QuantMatrix>>,
}

impl<B: Backend> From<Linear<B>> for LoraLinear<B> {
    fn from(base: Linear<B>) -> Self {
        LoraLinear {
            base,
            lora: None,
            merged: false,
            quant: None,
        }
    }
}

impl<B: Backend> LoraLinear<B> {
    /// `x · W + b` (+ the adapter's update). The base product is a plain matmul rather than
    /// `Linear::forward`: Burn's linear op reshapes the transposed weight in its backward
    /// pass, copying every frozen weight matrix at every training step (8 % of a SmolLM2
    /// step); the matmul's backward reads the transpose in place.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_in]` → `[batch, seq, d_out]`
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let y = match self.active_quant().and_then(|q| quant_rows(q, &x)) {
            Some(y) => y,
            None => x.clone().matmul(self.base.weight.val().unsqueeze::<3>()),
        };
        self.finish(y, x)
    }

    /// The products of several layers that read the same input (a decoder layer's q/k/v, its
    /// gate/up): with quantised weights and a few rows, one pass over all their blocks
    /// ([`crate::quant::matmul_shared`]); otherwise each layer's [`LoraLinear::forward`].
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_in]` → `[batch, seq, d_out]` per layer
    pub fn forward_shared<const N: usize>(
        layers: [&LoraLinear<B>; N],
        x: Tensor<B, 3>,
    ) -> [Tensor<B, 3>; N] {
        let quants: Option<Vec<&QuantMatrix>> = layers.iter().map(|l| l.active_quant()).collect();
        if let Some(ys) = quants.and_then(|qs| quant_rows_shared(&qs, &x)) {
            let done: Vec<Tensor<B, 3>> = layers
                .iter()
                .zip(ys)
                .map(|(l, y)| l.finish(y, x.clone()))
                .collect();
            if let Ok(done) = done.try_into() {
                return done;
            }
        }
        layers.map(|l| l.forward(x.clone()))
    }

    /// The quantised blocks, when they hold this layer's weight (not while an adapter is
    /// merged into `base`, which then holds more).
    fn active_quant(&self) -> Option<&QuantMatrix> {
        self.quant.as_deref().filter(|_| !self.merged)
    }

    /// `x · W` (`y`) plus the bias and an unmerged adapter's update.
    fn finish(&self, y: Tensor<B, 3>, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let y = match &self.base.bias {
            Some(b) => y + b.val().unsqueeze::<3>(),
            None => y,
        };
        match &self.lora {
            Some(l) if !self.merged => y + l.delta(x),
            _ => y,
        }
    }

    /// `(d_in, d_out)` of the base layer.
    pub fn dims(&self) -> (usize, usize) {
        let [d_in, d_out] = self.base.weight.dims();
        (d_in, d_out)
    }

    /// Folds the adapter into the base weight (inference at a plain `Linear`'s speed); the
    /// adapter is kept, so [`LoraLinear::unmerge`] can take it out again.
    pub fn merge(&mut self) {
        if let (Some(l), false) = (&self.lora, self.merged) {
            self.base = l.merged(&self.base);
            self.merged = true;
        }
    }

    /// Folds the adapter into the base weight for good (the layer forgets it): what a model
    /// that the next adapter builds on needs.
    pub fn bake(&mut self) {
        self.merge();
        if self.lora.is_some() {
            // The base weight changed for good: its quantised copy is stale.
            self.quant = None;
        }
        self.lora = None;
        self.merged = false;
    }

    /// Takes a merged adapter back out of the base weight.
    pub fn unmerge(&mut self) {
        if let (Some(l), true) = (&self.lora, self.merged) {
            self.base = l.unmerged(&self.base);
            self.merged = false;
        }
    }
}

/// Rows fewer than this go through a quantised weight; longer prompts keep the f32 GEMM,
/// which reuses each weight across many rows.
pub const QUANT_MAX_ROWS: usize = 8;

/// `x · W` through the quantised blocks `q` (`[out, in]`), when `x` has at most
/// [`QUANT_MAX_ROWS`] rows; None otherwise.
///
/// # Shapes
/// - x: `[batch, seq, d_in]` → `[batch, seq, d_out]`
pub fn quant_rows<B: Backend>(q: &QuantMatrix, x: &Tensor<B, 3>) -> Option<Tensor<B, 3>> {
    quant_rows_shared(&[q], x)?.pop()
}

/// [`quant_rows`] for several matrices that read the same `x`, in one pass
/// ([`crate::quant::matmul_shared`]): one result per matrix.
fn quant_rows_shared<B: Backend>(
    qs: &[&QuantMatrix],
    x: &Tensor<B, 3>,
) -> Option<Vec<Tensor<B, 3>>> {
    let [b, s, d_in] = x.dims();
    if b * s > QUANT_MAX_ROWS || qs.iter().any(|q| q.dims().1 != d_in) {
        return None;
    }
    let values: Vec<f32> = x.clone().into_data().convert::<f32>().to_vec().ok()?;
    let device = x.device();
    let ys = matmul_shared(qs, kernel(), &values, b * s);
    let shaped = qs
        .iter()
        .zip(ys)
        .map(|(q, y)| Tensor::from_data(TensorData::new(y, [b, s, q.dims().0]), &device));
    Some(shaped.collect())
}

impl<B: Backend> Lora<B> {
    /// A fresh adapter as PEFT initialises it: A uniform in ±1/√d_in (kaiming-uniform with
    /// a = √5), B zero. Seed the backend (`B::seed`) for a reproducible A.
    pub fn new(d_in: usize, d_out: usize, cfg: &LoraConfig, device: &B::Device) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        Lora {
            a: Param::from_tensor(Tensor::random(
                [d_in, cfg.rank],
                Distribution::Uniform(-bound, bound),
                device,
            )),
            b: Param::from_tensor(Tensor::zeros([cfg.rank, d_out], device)),
            scaling: cfg.scaling(),
            dropout: DropoutConfig::new(cfg.dropout).init(),
        }
    }

    /// The adapter's contribution to the layer's output.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_in]` → `[batch, seq, d_out]`
    pub fn delta(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        // Scaled at rank width, where the tensor is d_out / rank times smaller than after B
        // (PEFT scales after B: the same value, exactly so for a power-of-two scaling).
        self.dropout
            .forward(x)
            .matmul(self.a.val().unsqueeze())
            .mul_scalar(self.scaling)
            .matmul(self.b.val().unsqueeze())
    }

    /// `A · B · scaling`, `[d_in, d_out]`: what merging adds to the base weight.
    pub fn weight_delta(&self) -> Tensor<B, 2> {
        self.a.val().matmul(self.b.val()).mul_scalar(self.scaling)
    }

    /// The base layer with the adapter folded in (inference without the extra matmuls).
    pub fn merged(&self, base: &Linear<B>) -> Linear<B> {
        self.shifted(base, 1.0)
    }

    /// The base layer with the adapter taken back out of a merged one.
    pub fn unmerged(&self, merged: &Linear<B>) -> Linear<B> {
        self.shifted(merged, -1.0)
    }

    /// PEFT's tensors for this adapter: (`lora_A.weight` `[rank, d_in]`, `lora_B.weight`
    /// `[d_out, rank]`).
    pub fn to_peft(&self) -> Result<(HostTensor, HostTensor), WeightError> {
        Ok((
            HostTensor::from_tensor(self.a.val().transpose())?,
            HostTensor::from_tensor(self.b.val().transpose())?,
        ))
    }

    /// An adapter from PEFT's tensors (see [`Lora::to_peft`]); shapes must agree.
    pub fn from_peft(
        a: HostTensor,
        b: HostTensor,
        cfg: &LoraConfig,
        device: &B::Device,
    ) -> Result<Self, WeightError> {
        let bad = || WeightError::Shape {
            name: "lora_A/lora_B".into(),
            got: [a.shape.clone(), b.shape.clone()].concat(),
            expected: vec![cfg.rank, 0, 0, cfg.rank],
        };
        let [r, d_in] = <[usize; 2]>::try_from(a.shape.as_slice()).map_err(|_| bad())?;
        let [d_out, rb] = <[usize; 2]>::try_from(b.shape.as_slice()).map_err(|_| bad())?;
        if r != cfg.rank || rb != r {
            return Err(bad());
        }
        let tensor = |t: HostTensor, shape: [usize; 2]| -> Tensor<B, 2> {
            Tensor::<B, 2>::from_data(TensorData::new(t.data, shape), device).transpose()
        };
        Ok(Lora {
            a: Param::from_tensor(tensor(a, [r, d_in])),
            b: Param::from_tensor(tensor(b, [d_out, r])),
            scaling: cfg.scaling(),
            dropout: DropoutConfig::new(cfg.dropout).init(),
        })
    }

    fn shifted(&self, base: &Linear<B>, sign: f64) -> Linear<B> {
        // Detached: a merged weight is a new leaf, not a function of the adapter. On an autodiff
        // backend the sum would otherwise stay a graph node, and training a further adapter on
        // a baked model would panic marking it ("non leaf tensor into a tracked tensor").
        let weight = (base.weight.val() + self.weight_delta().mul_scalar(sign)).detach();
        Linear {
            weight: Param::from_tensor(weight),
            bias: base.bias.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{cpu_device, Cpu};
    use burn::tensor::TensorData;

    fn base(d_in: usize, d_out: usize) -> Linear<Cpu> {
        let w: Vec<f32> = (0..d_in * d_out)
            .map(|i| ((i * 37 % 11) as f32 - 5.0) / 10.0)
            .collect();
        Linear {
            weight: Param::from_tensor(Tensor::from_data(
                TensorData::new(w, [d_in, d_out]),
                &cpu_device(),
            )),
            bias: Some(Param::from_tensor(Tensor::ones([d_out], &cpu_device()))),
        }
    }

    fn values<const D: usize>(t: Tensor<Cpu, D>) -> Vec<f32> {
        t.into_data().to_vec::<f32>().unwrap()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// A layer `d_in → d_out` whose quantised blocks (Q8_0, bytes from a counter) are not
    /// its f32 weight: which path ran shows in the output.
    fn quantised(d_in: usize, d_out: usize, salt: usize) -> LoraLinear<Cpu> {
        let mut raw = Vec::new();
        for b in 0..d_out * d_in / 32 {
            raw.extend(half::f16::from_f32(0.01 * (1 + b % 3) as f32).to_le_bytes());
            raw.extend((0..32).map(|j| ((b * 31 + j * 7 + salt) % 251) as u8));
        }
        let mut layer = LoraLinear::from(base(d_in, d_out));
        let q = QuantMatrix::from_gguf(crate::quant::QuantFormat::Q8_0, d_out, d_in, &raw);
        layer.quant = Some(Arc::new(q.unwrap()));
        layer
    }

    #[test]
    fn shared_products_equal_each_layers_own() {
        let device = cpu_device();
        let (q, mut k, v) = (
            quantised(64, 96, 1),
            quantised(64, 32, 2),
            quantised(64, 32, 3),
        );
        k.lora = Some(Lora::new(64, 32, &LoraConfig::default(), &device));
        k.lora.as_mut().unwrap().b = Param::from_tensor(Tensor::ones([8, 32], &device));
        for rows in [1, 3, QUANT_MAX_ROWS + 1] {
            let x: Tensor<Cpu, 3> = Tensor::from_data(
                TensorData::new(
                    (0..rows * 64).map(|i| (i as f32 * 0.13).sin()).collect(),
                    [1, rows, 64],
                ),
                &device,
            );
            let shared = LoraLinear::forward_shared([&q, &k, &v], x.clone());
            for (layer, got) in [&q, &k, &v].into_iter().zip(shared) {
                assert_eq!(values(got), values(layer.forward(x.clone())), "{rows} rows");
            }
        }
        // A few rows go through the blocks, more through the f32 weight.
        let x = |rows| Tensor::<Cpu, 3>::ones([1, rows, 64], &device);
        let plain = LoraLinear::from(base(64, 96));
        assert_ne!(values(q.forward(x(1))), values(plain.forward(x(1))));
        assert_eq!(values(q.forward(x(9))), values(plain.forward(x(9))));
    }

    #[test]
    fn a_baked_weight_is_a_leaf_that_can_train_again() {
        type Ad = burn::backend::Autodiff<Cpu>;
        let device = cpu_device();
        let b = base(4, 5);
        let on_ad = Linear::<Ad> {
            weight: Param::from_tensor(Tensor::from_inner(b.weight.val())).set_require_grad(true),
            bias: None,
        };
        let mut layer = LoraLinear::from(on_ad);
        layer.lora = Some(Lora::<Ad>::new(4, 5, &LoraConfig::default(), &device));
        layer.bake();
        // What a second adapter's training does with the frozen base: mark it, run, backprop.
        let w = layer.base.weight.val().require_grad();
        let grads = w.clone().sum().backward();
        assert!(w.grad(&grads).is_some());
    }

    #[test]
    fn peft_tensors_round_trip_through_safetensors() {
        let cfg = LoraConfig {
            rank: 3,
            ..Default::default()
        };
        let device = cpu_device();
        let mut lora = Lora::<Cpu>::new(4, 5, &cfg, &device);
        lora.b = Param::from_tensor(Tensor::from_data(
            TensorData::new((0..15).map(|i| i as f32 - 7.0).collect::<Vec<_>>(), [3, 5]),
            &device,
        ));
        let (a, b) = lora.to_peft().unwrap();
        assert_eq!(
            (a.shape.as_slice(), b.shape.as_slice()),
            (&[3, 4][..], &[5, 3][..])
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("adapter_model.safetensors");
        let key = |w| peft_key("model.layers.0.self_attn.q_proj", w);
        assert_eq!(
            key('A'),
            "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        );
        crate::weights::safetensors::write(
            &path,
            &[
                (&key('A'), &a.shape, &a.data),
                (&key('B'), &b.shape, &b.data),
            ],
            &[],
        )
        .unwrap();
        use crate::weights::TensorSource;
        let mut st = crate::weights::SafeTensors::open(&path).unwrap();
        let back = Lora::<Cpu>::from_peft(
            st.read(&key('A')).unwrap().unwrap(),
            st.read(&key('B')).unwrap().unwrap(),
            &cfg,
            &device,
        )
        .unwrap();
        assert!(max_diff(&values(back.weight_delta()), &values(lora.weight_delta())) < 1e-6);
        let wrong = LoraConfig {
            rank: 2,
            ..cfg.clone()
        };
        let (a, b) = lora.to_peft().unwrap();
        assert!(Lora::<Cpu>::from_peft(a.clone(), b.clone(), &wrong, &device).is_err());
        let flat = HostTensor {
            shape: vec![12],
            data: a.data.clone(),
        };
        assert!(
            Lora::<Cpu>::from_peft(flat, b, &cfg, &device).is_err(),
            "no panic on 1-D"
        );
    }

    #[test]
    fn scaling_and_targets_follow_peft() {
        let cfg = LoraConfig {
            rank: 16,
            alpha: 32.0,
            ..Default::default()
        };
        assert_eq!(cfg.scaling(), 2.0);
        let rs = LoraConfig {
            use_rslora: true,
            ..cfg.clone()
        };
        assert_eq!(rs.scaling(), 8.0);
        assert!(cfg.targets_module("model.layers.3.self_attn.q_proj"));
        assert!(cfg.targets_module("down_proj"));
        assert!(!cfg.targets_module("model.layers.3.self_attn.q_proj_extra"));
        assert!(!cfg.targets_module("vision_tower.encoder.layers.0.mlp.fc1"));
    }

    #[test]
    fn fresh_adapter_changes_nothing_and_merging_round_trips() {
        let (d_in, d_out) = (6, 5);
        let cfg = LoraConfig {
            rank: 2,
            alpha: 4.0,
            ..Default::default()
        };
        let device = cpu_device();
        let layer = base(d_in, d_out);
        let mut lora = Lora::<Cpu>::new(d_in, d_out, &cfg, &device);
        let x: Tensor<Cpu, 3> = Tensor::from_data(
            TensorData::new(
                (0..2 * 3 * d_in)
                    .map(|i| i as f32 / 10.0)
                    .collect::<Vec<_>>(),
                [2, 3, d_in],
            ),
            &device,
        );
        assert!(
            values(lora.delta(x.clone())).iter().all(|&v| v == 0.0),
            "B starts at zero"
        );

        // A trained adapter: B no longer zero.
        lora.b = Param::from_tensor(Tensor::from_data(
            TensorData::new(
                (0..2 * d_out)
                    .map(|i| i as f32 / 7.0 - 0.5)
                    .collect::<Vec<_>>(),
                [2, d_out],
            ),
            &device,
        ));
        let with_adapter = values(layer.forward(x.clone()) + lora.delta(x.clone()));
        let merged = lora.merged(&layer);
        assert!(max_diff(&values(merged.forward(x.clone())), &with_adapter) < 1e-5);
        let back = lora.unmerged(&merged);
        assert!(max_diff(&values(back.weight.val()), &values(layer.weight.val())) < 1e-6);

        // The same through LoraLinear: merged output equals adapted output; unmerge restores.
        let mut wrapped = LoraLinear::from(base(d_in, d_out));
        wrapped.lora = Some(lora.clone());
        let adapted = values(wrapped.forward(x.clone()));
        wrapped.merge();
        wrapped.merge(); // twice is once
        assert!(wrapped.merged);
        assert!(max_diff(&values(wrapped.forward(x.clone())), &adapted) < 1e-5);
        wrapped.unmerge();
        assert!(
            max_diff(
                &values(wrapped.base.weight.val()),
                &values(layer.weight.val())
            ) < 1e-6
        );
        assert!(max_diff(&values(wrapped.forward(x.clone())), &adapted) < 1e-5);
        assert!(
            values(lora.delta(x)).iter().any(|&v| v.abs() > 1e-3),
            "a trained adapter changes the output"
        );
    }
}
