//! RMS norm in one pass on the CPU backend's buffer (Burn's takes five ops, each with a new
//! buffer: 300 ops a decoded token of SmolLM2), Burn's ops elsewhere.

use burn::nn::RmsNorm;
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use crate::{fastmath, fused_grad, host};

/// `norm.forward(x)`, in place on the CPU.
pub fn rms_norm<B: Backend, const D: usize>(norm: &RmsNorm<B>, x: Tensor<B, D>) -> Tensor<B, D> {
    if let Some(y) = fused_grad::rms_norm(norm, &x) {
        return y;
    }
    let gamma = norm.gamma.val();
    let d = x.dims()[D - 1];
    if let Some(g) = host::cpu_tensor(&gamma).filter(|_| gamma.dims()[0] == d) {
        if let Some(g) = g.as_slice::<f32>() {
            let eps = norm.epsilon as f32;
            match host::in_place(x, |xs| fastmath::rms_norm(xs, g, eps)) {
                Ok(y) => return y,
                Err(x) => return norm.forward(x),
            }
        }
    }
    norm.forward(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{cpu_device, Cpu};
    use burn::nn::RmsNormConfig;
    use burn::tensor::TensorData;

    #[test]
    fn equals_burns_rms_norm() {
        let device = cpu_device();
        let mut norm = RmsNormConfig::new(40)
            .with_epsilon(1e-5)
            .init::<Cpu>(&device);
        let g: Vec<f32> = (0..40).map(|i| 0.5 + i as f32 * 0.03).collect();
        norm.gamma =
            burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(g, [40]), &device));
        let x: Vec<f32> = (0..120)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) * 0.4)
            .collect();
        let x = Tensor::<Cpu, 3>::from_data(TensorData::new(x, [1, 3, 40]), &device);
        let ours = rms_norm(&norm, x.clone())
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        let burn = norm.forward(x).into_data().to_vec::<f32>().unwrap();
        for (a, b) in ours.iter().zip(&burn) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
