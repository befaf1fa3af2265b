//! f32 matrix products on the CPU backend at the shapes of a Chain-of-Image forward (bench/
//! llava.sh: a ViT-B/14-336 tower on two images, a SmolLM2-135M-sized decoder on 1,384
//! tokens), as the model runs them (x · Wᵀ through a transposed weight view), on rayon's
//! threads: ms per product and GFLOP/s. Run: `cargo bench -p vlm --bench matmul`; compare
//! with `python bench/matmul_peer.py` (torch on the same shapes and threads).

use std::time::Instant;

use burn::tensor::{Distribution, Tensor};
use vlm::device::{cpu_device, Cpu};
use vlm::workers::on_cpu_workers;

fn main() {
    let device = cpu_device();
    // (name, rows, in, out)
    let shapes: [(&str, usize, usize, usize); 7] = [
        ("decoder q/o 1384x576x576", 1384, 576, 576),
        ("decoder gate/up 1384x576x1536", 1384, 576, 1536),
        ("decoder down 1384x1536x576", 1384, 1536, 576),
        ("decoder lm_head 1384x576x49152", 1384, 576, 49152),
        ("tower qkv/o 1154x768x768", 1154, 768, 768),
        ("tower fc1 1154x768x3072", 1154, 768, 3072),
        ("tower fc2 1154x3072x768", 1154, 3072, 768),
    ];
    println!("threads: {}", rayon::current_num_threads());
    for (name, rows, inp, out) in shapes {
        let x = Tensor::<Cpu, 2>::random([rows, inp], Distribution::Default, &device);
        let w = Tensor::<Cpu, 2>::random([out, inp], Distribution::Default, &device);
        let run = || on_cpu_workers::<Cpu, _>(|| x.clone().matmul(w.clone().transpose()));
        let _ = run().into_data();
        let reps = (2e10 / (2.0 * (rows * inp * out) as f64)).clamp(3.0, 50.0) as usize;
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t = Instant::now();
            let y = run();
            let _ = y.into_data();
            best = best.min(t.elapsed().as_secs_f64());
        }
        let gflops = 2.0 * (rows * inp * out) as f64 / best / 1e9;
        println!("{name:34} {:8.2} ms {gflops:7.1} GFLOP/s", best * 1e3);
    }
}
