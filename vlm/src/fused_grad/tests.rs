//! Each fused operation against Burn's textbook ops under autodiff: the same outputs and the
//! same gradients of every input.

use burn::backend::Autodiff;
use burn::module::Param;
use burn::nn::RmsNormConfig;
use burn::tensor::activation::{silu, softmax};
use burn::tensor::{Tensor, TensorData};

use super::*;
use crate::attention::Visibility;
use crate::device::{cpu_device, Cpu};
use crate::rng::Rng;

type Ad = Autodiff<Cpu>;

fn random<const D: usize>(rng: &mut Rng, shape: [usize; D]) -> Tensor<Ad, D> {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.range(-1.5, 1.5)).collect();
    Tensor::from_data(TensorData::new(v, shape), &cpu_device())
}

fn values<const D: usize>(t: Tensor<Cpu, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

#[track_caller]
fn close(what: &str, a: Vec<f32>, b: Vec<f32>, tol: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1e-3f32, |m, x| m.max(x.abs()));
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= tol * scale,
            "{what}[{i}]: {x} vs {y} (scale {scale})"
        );
    }
}

/// softmax(q kᵀ · scale + mask) v with Burn's ops, key/value heads repeated for their groups.
fn textbook(
    q: Tensor<Ad, 4>,
    k: Tensor<Ad, 4>,
    v: Tensor<Ad, 4>,
    scale: f32,
    additive: Tensor<Ad, 4>,
) -> Tensor<Ad, 3> {
    let [b, h, s, hd] = q.dims();
    let [_, kvh, t, _] = k.dims();
    let repeat = |x: Tensor<Ad, 4>| {
        x.unsqueeze_dim::<5>(2)
            .expand([b, kvh, h / kvh, t, hd])
            .reshape([b, h, t, hd])
    };
    let scores = q.matmul(repeat(k).swap_dims(2, 3)).mul_scalar(scale) + additive;
    softmax(scores, 3)
        .matmul(repeat(v))
        .swap_dims(1, 2)
        .reshape([b, s, h * hd])
}

/// One attention problem through both paths; `keep` pads the start of the second sequence.
fn attention_matches(causal: bool, heads: usize, kv_heads: usize, rows: usize, padding: usize) {
    let (b, hd) = (2, 8);
    let mut rng = Rng::new(7);
    // Projections' outputs, tokens-first, seen as [b, heads, rows, hd] (as the decoder does).
    let q0 = random(&mut rng, [b, rows, heads, hd]);
    let k0 = random(&mut rng, [b, rows, kv_heads, hd]);
    let v0 = random(&mut rng, [b, rows, kv_heads, hd]);
    let weights = random(&mut rng, [b, rows, heads * hd]);
    let keep: Vec<bool> = (0..b * rows)
        .map(|i| i < rows || i - rows >= padding)
        .collect();
    // Rows that see no key (padding before any real token) differ by design (zeros here, a
    // uniform average there); the loss ignores them, as training's loss ignores padding.
    let row_mask: Vec<f32> = keep
        .iter()
        .flat_map(|&k| vec![if k { 1.0 } else { 0.0 }; heads * hd])
        .collect();
    let row_mask = Tensor::<Ad, 3>::from_data(
        TensorData::new(row_mask, [b, rows, heads * hd]),
        &cpu_device(),
    );
    let weights = weights * row_mask;
    let mut additive = vec![0.0f32; b * rows * rows];
    for bi in 0..b {
        for i in 0..rows {
            for j in 0..rows {
                if (causal && j > i) || !keep[bi * rows + j] {
                    additive[(bi * rows + i) * rows + j] = -1e9;
                }
            }
        }
    }
    let additive =
        Tensor::<Ad, 4>::from_data(TensorData::new(additive, [b, 1, rows, rows]), &cpu_device());
    let scale = 1.0 / (hd as f32).sqrt();
    let visible = Visibility {
        causal,
        keep: (padding > 0).then_some(&keep[..]),
    };
    let run = |fused: bool| {
        let (q, k, v) = (
            q0.clone().require_grad(),
            k0.clone().require_grad(),
            v0.clone().require_grad(),
        );
        let (qh, kh, vh) = (
            q.clone().swap_dims(1, 2),
            k.clone().swap_dims(1, 2),
            v.clone().swap_dims(1, 2),
        );
        let out = if fused {
            attention(&qh, &kh, &vh, scale, visible).expect("the fused path applies")
        } else {
            textbook(qh, kh, vh, scale, additive.clone())
        };
        let grads = (out.clone() * weights.clone()).sum().backward();
        let grad = |t: &Tensor<Ad, 4>| values(t.grad(&grads).expect("a gradient"));
        let out = values((out * weights.clone()).inner());
        (out, grad(&q), grad(&k), grad(&v))
    };
    let (fused, textbook) = (run(true), run(false));
    close("output", fused.0, textbook.0, 1e-5);
    close("dq", fused.1, textbook.1, 1e-5);
    close("dk", fused.2, textbook.2, 1e-5);
    close("dv", fused.3, textbook.3, 1e-5);
}

#[test]
fn causal_grouped_attention_with_padding_has_burns_gradients() {
    // 70 rows: two query blocks of the backward pass, the second partial.
    attention_matches(true, 4, 2, 70, 5);
}

#[test]
fn bidirectional_attention_has_burns_gradients() {
    attention_matches(false, 3, 3, 20, 0);
    attention_matches(false, 2, 1, 9, 3);
}

#[test]
fn silu_mul_has_burns_gradients() {
    let mut rng = Rng::new(3);
    let (g0, u0) = (random(&mut rng, [3, 5, 40]), random(&mut rng, [3, 5, 40]));
    let g0 = g0.mul_scalar(6.0); // into both tails of the sigmoid
    let w = random(&mut rng, [3, 5, 40]);
    let run = |fused: bool| {
        let (g, u) = (g0.clone().require_grad(), u0.clone().require_grad());
        let y = if fused {
            silu_mul(&g, &u).expect("the fused path applies")
        } else {
            silu(g.clone()) * u.clone()
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        (
            values(y.inner()),
            values(g.grad(&grads).unwrap()),
            values(u.grad(&grads).unwrap()),
        )
    };
    let (a, b) = (run(true), run(false));
    close("y", a.0, b.0, 2e-6);
    close("dgate", a.1, b.1, 2e-6);
    close("dup", a.2, b.2, 2e-6);
}

#[test]
fn rms_norm_has_burns_gradients_for_input_and_scale() {
    let mut rng = Rng::new(5);
    let d = 48;
    let mut norm = RmsNormConfig::new(d)
        .with_epsilon(1e-5)
        .init::<Ad>(&cpu_device());
    let gamma: Tensor<Ad, 1> = random(&mut rng, [d]).add_scalar(1.0);
    norm.gamma = Param::from_tensor(gamma.require_grad());
    let x0 = random(&mut rng, [2, 70, d]);
    let w = random(&mut rng, [2, 70, d]);
    let run = |fused: bool| {
        let x = x0.clone().require_grad();
        let y = if fused {
            rms_norm(&norm, &x).expect("the fused path applies")
        } else {
            norm.forward(x.clone())
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        (
            values(y.inner()),
            values(x.grad(&grads).unwrap()),
            values(norm.gamma.val().grad(&grads).unwrap()),
        )
    };
    let (a, b) = (run(true), run(false));
    close("y", a.0, b.0, 2e-6);
    close("dx", a.1, b.1, 1e-5);
    close("dgamma", a.2, b.2, 1e-5);
}

#[test]
fn other_backends_are_left_alone() {
    let device = cpu_device();
    let x = Tensor::<Cpu, 2>::from_data(TensorData::new(vec![1.0f32; 4], [2, 2]), &device);
    assert!(silu_mul(&x, &x).is_none());
    assert!(!applies::<Cpu>());
    assert!(applies::<Ad>());
}

#[test]
fn rotation_has_burns_gradients() {
    let mut rng = Rng::new(11);
    let shape = [2, 70, 3, 8];
    let positions: Vec<i64> = (0..140).map(|i| i % 70 + 3).collect();
    let rotation =
        crate::llama::rope::Rotation::<Ad>::new(&positions, shape, 10000.0, &cpu_device());
    let x0 = random(&mut rng, shape);
    let w = random(&mut rng, shape);
    let run = |fused: bool| {
        let x = x0.clone().require_grad();
        let y = if fused {
            rotate(&x, &rotation.cos, &rotation.sin).expect("the fused path applies")
        } else {
            // Burn's ops, as `Rotation::apply_ops`.
            let [b, s, h, d] = shape;
            let x1 = x.clone().slice([0..b, 0..s, 0..h, 0..d / 2]);
            let x2 = x.clone().slice([0..b, 0..s, 0..h, d / 2..d]);
            let rotated = Tensor::cat(vec![x2.neg(), x1], 3);
            x.clone() * rotation.cos.clone() + rotated * rotation.sin.clone()
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        (values(y.inner()), values(x.grad(&grads).unwrap()))
    };
    let (a, b) = (run(true), run(false));
    close("y", a.0, b.0, 1e-6);
    close("dx", a.1, b.1, 1e-6);
}

#[test]
fn head_cross_entropy_has_burns_loss_and_gradient() {
    let mut rng = Rng::new(13);
    let (rows, hidden, vocab) = (5, 24, 300);
    let x0 = random(&mut rng, [rows, hidden]);
    // Frozen, and stored transposed ([vocab, hidden] seen as [hidden, vocab]) as a tied
    // embedding may be.
    let weight = random::<2>(&mut rng, [vocab, hidden]).transpose();
    let targets = [0usize, 299, 17, 17, 150];
    let run = |fused: bool| {
        let x = x0.clone().require_grad();
        let loss = if fused {
            head_cross_entropy(&x, &weight, &targets).expect("the fused path applies")
        } else {
            let ids: Vec<i64> = targets.iter().map(|&t| t as i64).collect();
            let ids = Tensor::<Ad, 2, burn::tensor::Int>::from_data(
                TensorData::new(ids, [rows, 1]),
                &cpu_device(),
            );
            burn::tensor::activation::log_softmax(x.clone().matmul(weight.clone()), 1)
                .gather(1, ids)
                .mean()
                .neg()
        };
        let grads = loss.clone().mul_scalar(3.0).backward(); // an upstream gradient other than 1
        (values(loss.inner()), values(x.grad(&grads).unwrap()))
    };
    let (a, b) = (run(true), run(false));
    close("loss", a.0, b.0, 1e-6);
    close("dx", a.1, b.1, 1e-5);
    // A target outside the vocabulary, or a trained head, goes to Burn's ops.
    assert!(head_cross_entropy(&x0, &weight, &[0, 1, 2, 3, 300]).is_none());
    assert!(head_cross_entropy(&x0, &weight.clone().require_grad(), &targets).is_none());
}
