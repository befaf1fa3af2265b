//! What several test files share (each uses some of it).
#![allow(dead_code)]

use image::{DynamicImage, RgbImage};

/// fixtures/make_internvl.py's `pattern(w, h)`: ramps with hashed noise, computed the same way
/// on both sides so the processors see identical pixels.
pub fn pattern(w: u32, h: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(w, h, |x, y| {
        let px: [u8; 3] = std::array::from_fn(|c| {
            let (x, y, c) = (x as u64, y as u64, c as u64);
            let mix = ((x * 73856093) ^ (y * 19349663) ^ (c * 83492791)) & 0xFFFF_FFFF;
            ((x + 2 * y + 40 * c + ((mix >> 7) & 63)) & 255) as u8
        });
        image::Rgb(px)
    }))
}

/// Runs `check` when the `spec` device answers; panics with the probe's error otherwise (the
/// GPU tests are ignored by a plain `cargo test` and run with `--ignored`).
#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub fn on_gpu(spec: &str, check: impl FnOnce()) {
    if let Err(e) = vlm::device::probe(spec.parse().unwrap()) {
        panic!("no {spec} device: {e}");
    }
    check();
}
