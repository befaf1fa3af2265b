//! AdamW as PyTorch's `torch.optim.AdamW` computes it (one parameter group, decoupled weight
//! decay, bias-corrected moments), and global gradient-norm clipping as
//! `torch.nn.utils.clip_grad_norm_`. Our own, so its state is plain named tensors that a
//! checkpoint stores and a resumed run restores bit for bit.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, Tensor, TensorData};

use super::error::StateError;
use crate::weights::{HostTensor, WeightError};

/// The optimizer's settings and its per-tensor moments (flattened).
#[derive(Debug)]
pub struct AdamW<B: Backend> {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Updates made so far (PyTorch's `state["step"]`, the same for every tensor here).
    pub steps: u64,
    moments: BTreeMap<String, (Tensor<B, 1>, Tensor<B, 1>)>,
}

impl<B: Backend> AdamW<B> {
    pub fn new(beta1: f64, beta2: f64, eps: f64, weight_decay: f64) -> Self {
        AdamW {
            beta1,
            beta2,
            eps,
            weight_decay,
            steps: 0,
            moments: BTreeMap::new(),
        }
    }

    /// Starts an optimizer step (advances the bias correction once for all tensors).
    pub fn begin_step(&mut self) {
        self.steps += 1;
    }

    /// The new value of tensor `name` after this step's update with gradient `grad`.
    pub fn update(
        &mut self,
        name: &str,
        value: Tensor<B, 1>,
        grad: Tensor<B, 1>,
        lr: f64,
    ) -> Tensor<B, 1> {
        let t = self.steps.max(1) as i32;
        let (m, v) = match self.moments.remove(name) {
            Some(mv) => mv,
            None => (grad.zeros_like(), grad.zeros_like()),
        };
        let m = m.mul_scalar(self.beta1) + grad.clone().mul_scalar(1.0 - self.beta1);
        let v = v.mul_scalar(self.beta2) + grad.clone().mul(grad).mul_scalar(1.0 - self.beta2);
        let step_size = lr / (1.0 - self.beta1.powi(t));
        let correction2 = (1.0 - self.beta2.powi(t)).sqrt();
        let denom = v
            .clone()
            .sqrt()
            .div_scalar(correction2)
            .add_scalar(self.eps);
        let decayed = value.mul_scalar(1.0 - lr * self.weight_decay);
        let out = decayed - m.clone().div(denom).mul_scalar(step_size);
        self.moments.insert(name.to_string(), (m, v));
        out
    }

    /// The moments as host tensors (`exp_avg.<name>`, `exp_avg_sq.<name>`) for a checkpoint.
    pub fn state(&self) -> Result<Vec<(String, HostTensor)>, WeightError> {
        let mut out = Vec::new();
        for (name, (m, v)) in &self.moments {
            out.push((
                format!("exp_avg.{name}"),
                HostTensor::from_tensor(m.clone())?,
            ));
            out.push((
                format!("exp_avg_sq.{name}"),
                HostTensor::from_tensor(v.clone())?,
            ));
        }
        Ok(out)
    }

    /// Restores moments saved by [`AdamW::state`] after `steps` updates.
    pub fn restore(
        &mut self,
        steps: u64,
        tensors: BTreeMap<String, HostTensor>,
        device: &B::Device,
    ) -> Result<(), StateError> {
        self.steps = steps;
        self.moments.clear();
        let tensor = |t: &HostTensor| {
            Tensor::<B, 1>::from_data(TensorData::new(t.data.clone(), [t.data.len()]), device)
        };
        for (key, m) in &tensors {
            let Some(name) = key.strip_prefix("exp_avg.") else {
                continue;
            };
            let v = tensors
                .get(&format!("exp_avg_sq.{name}"))
                .ok_or_else(|| StateError::MissingSecondMoment(name.to_string()))?;
            if v.data.len() != m.data.len() {
                return Err(StateError::SizeMismatch(name.to_string()));
            }
            self.moments
                .insert(name.to_string(), (tensor(m), tensor(v)));
        }
        Ok(())
    }
}

/// Scales `grads` so their global L2 norm is at most `max_norm` (no-op for 0); returns the
/// norm before clipping.
pub fn clip_global_norm<B: Backend>(grads: &mut [Tensor<B, 1>], max_norm: f64) -> f64 {
    let total: f64 = grads
        .iter()
        .map(|g| g.clone().mul(g.clone()).sum().into_scalar().elem::<f64>())
        .sum::<f64>()
        .sqrt();
    if max_norm > 0.0 {
        let coef = (max_norm / (total + 1e-6)).min(1.0);
        if coef < 1.0 {
            for g in grads.iter_mut() {
                *g = g.clone().mul_scalar(coef);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{cpu_device, Cpu};

    fn t(v: &[f32]) -> Tensor<Cpu, 1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &cpu_device())
    }

    #[test]
    fn first_steps_by_hand() {
        // Step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g²: the update is lr·sign(g) (eps aside),
        // after decay p·(1 − lr·wd).
        let mut opt = AdamW::<Cpu>::new(0.9, 0.999, 1e-8, 0.5);
        opt.begin_step();
        let p = opt.update("w", t(&[1.0, -2.0]), t(&[0.3, -4.0]), 0.1);
        let got = p.into_data().to_vec::<f32>().unwrap();
        assert!((got[0] - (1.0 * 0.95 - 0.1)).abs() < 1e-6, "{got:?}");
        assert!((got[1] - (-2.0 * 0.95 + 0.1)).abs() < 1e-6, "{got:?}");
        // Step 2 with g = 0 for the first element: m = 0.09·0.3, v = 0.999·0.001·0.09.
        opt.begin_step();
        let p2 = opt.update("w", t(&[0.0, 0.0]), t(&[0.0, 0.0]), 0.1);
        let m = 0.9 * 0.1 * 0.3f64;
        let v = 0.999 * 0.001 * 0.09f64;
        let expect = -0.1 / (1.0 - 0.81) * m / ((v / (1.0 - 0.999f64.powi(2))).sqrt() + 1e-8);
        let got = p2.into_data().to_vec::<f32>().unwrap();
        assert!((got[0] as f64 - expect).abs() < 1e-6, "{got:?} vs {expect}");
    }

    #[test]
    fn clipping_scales_to_the_global_norm() {
        let mut g = vec![t(&[3.0]), t(&[4.0])];
        let norm = clip_global_norm(&mut g, 1.0);
        assert!((norm - 5.0).abs() < 1e-6);
        let v: Vec<f32> = g
            .into_iter()
            .flat_map(|x| x.into_data().to_vec::<f32>().unwrap())
            .collect();
        assert!(
            (v[0] - 0.6).abs() < 1e-5 && (v[1] - 0.8).abs() < 1e-5,
            "{v:?}"
        );
        let mut small = vec![t(&[0.1])];
        clip_global_norm(&mut small, 1.0);
        assert_eq!(small[0].clone().into_data().to_vec::<f32>().unwrap(), [0.1]);
    }
}
