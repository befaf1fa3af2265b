//! The quantised kernels on SmolLM2-135M's matrix shapes, each kernel this CPU runs, one
//! thread and all threads: GB of blocks read per second and µs per product (one activation
//! row, as in decoding). Run: `cargo bench -p vlm --bench quant_kernels`.

use std::time::Instant;

use vlm::quant::{Kernel, QuantFormat, QuantMatrix};

fn blocks(format: QuantFormat, rows: usize, cols: usize) -> Vec<u8> {
    let per = format.gguf_block_bytes();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut raw = Vec::with_capacity(rows * cols / 32 * per);
    for _ in 0..rows * cols / 32 {
        let scales = half::f16::from_f32(0.01).to_le_bytes();
        raw.extend(scales);
        if format == QuantFormat::Q4_1 {
            raw.extend(half::f16::from_f32(-0.05).to_le_bytes());
        }
        for _ in 0..per - raw.len() % per {
            if raw.len() % per == 0 {
                break;
            }
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            raw.push(state as u8);
        }
    }
    raw
}

fn main() {
    let shapes = [
        ("q_proj / o_proj (Q4_1)", QuantFormat::Q4_1, 576, 576),
        ("gate / up (Q4_1)", QuantFormat::Q4_1, 1536, 576),
        ("down (Q4_1)", QuantFormat::Q4_1, 576, 1536),
        ("lm_head (Q8_0)", QuantFormat::Q8_0, 49152, 576),
    ];
    let threads = rayon::current_num_threads();
    println!(
        "{:<24}{:>8}{:>10}{:>12}{:>12}",
        "matrix", "kernel", "threads", "µs", "GB/s"
    );
    for (name, format, rows, cols) in shapes {
        let m = QuantMatrix::from_gguf(format, rows, cols, &blocks(format, rows, cols))
            .expect("well-formed blocks");
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
        for k in Kernel::available() {
            for pool in [1, threads] {
                let run = || {
                    let reps = (200_000_000 / m.bytes()).clamp(5, 2000);
                    let start = Instant::now();
                    for _ in 0..reps {
                        std::hint::black_box(m.matmul_with(k, &x, 1));
                    }
                    start.elapsed().as_secs_f64() / reps as f64
                };
                let secs = rayon::ThreadPoolBuilder::new()
                    .num_threads(pool)
                    .build()
                    .expect("a thread pool")
                    .install(|| {
                        run();
                        (0..3).map(|_| run()).fold(f64::MAX, f64::min)
                    });
                println!(
                    "{name:<24}{:>8}{pool:>10}{:>12.1}{:>12.2}",
                    k.name(),
                    secs * 1e6,
                    m.bytes() as f64 / secs / 1e9
                );
            }
        }
    }
}
