//! The fused CPU attention at the shapes of a Chain-of-Image forward (bench/llava.sh): the
//! decoder's causal self-attention over 1,384 tokens (9 query heads sharing 3 key/value heads)
//! and the tower's over two images of 577 patches (12 heads), on rayon's threads: ms per call
//! and GFLOP/s (causal counts the visible half). Run: `cargo bench -p vlm --bench attention`;
//! compare with `python bench/attention_peer.py` (torch's scaled_dot_product_attention).

use std::time::Instant;

use vlm::attention::{attend, Dims, Operand, Strides, Visibility};

fn main() {
    let cases: [(&str, Dims, bool); 2] = [
        (
            "decoder causal 1384 tokens, 9/3 heads",
            Dims {
                batch: 1,
                heads: 9,
                kv_heads: 3,
                queries: 1384,
                keys: 1384,
                head_dim: 64,
            },
            true,
        ),
        (
            "tower 2 x 577 patches, 12 heads",
            Dims {
                batch: 2,
                heads: 12,
                kv_heads: 12,
                queries: 577,
                keys: 577,
                head_dim: 64,
            },
            false,
        ),
    ];
    println!("threads: {}", rayon::current_num_threads());
    for (name, d, causal) in cases {
        let n = |heads: usize, rows: usize| d.batch * heads * rows * d.head_dim;
        let fill = |len: usize, seed: u32| -> Vec<f32> {
            (0..len)
                .map(|i| {
                    ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 1000.0
                        - 0.5
                })
                .collect()
        };
        let (q, k, v) = (
            fill(n(d.heads, d.queries), 1),
            fill(n(d.kv_heads, d.keys), 2),
            fill(n(d.kv_heads, d.keys), 3),
        );
        fn op(data: &[f32], heads: usize, rows: usize, head_dim: usize) -> Operand<'_> {
            Operand {
                data,
                offset: 0,
                strides: Strides::heads_first(rows, heads, head_dim),
            }
        }
        let visible = Visibility { causal, keep: None };
        let run = || {
            rayon::scope(|_| {
                attend(
                    op(&q, d.heads, d.queries, d.head_dim),
                    op(&k, d.kv_heads, d.keys, d.head_dim),
                    op(&v, d.kv_heads, d.keys, d.head_dim),
                    d,
                    0.125,
                    visible,
                )
                .unwrap()
            })
        };
        let _ = run();
        let mut best = f64::INFINITY;
        for _ in 0..10 {
            let t = Instant::now();
            let _ = run();
            best = best.min(t.elapsed().as_secs_f64());
        }
        let pairs = (d.queries * d.keys) as f64 * if causal { 0.5 } else { 1.0 };
        let flops = 4.0 * pairs * (d.batch * d.heads * d.head_dim) as f64;
        println!(
            "{name:40} {:8.2} ms {:7.1} GFLOP/s",
            best * 1e3,
            flops / best / 1e9
        );
    }
}
