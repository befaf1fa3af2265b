//! InternVL's processor (transformers' GotOcr2ImageProcessor, PIL backend, with
//! crop_to_patches as InternVLProcessor calls it) against its output stored by
//! fixtures/make_internvl.py: a computed pattern at the sizes of a photo, a wide, a tall and a
//! small crop of it and with max_patches 4 (identical input pixels: the tiles must be the same
//! bytes), and the photo itself (franz-kafka.jpg, fetched by scripts/setup.sh), whose JPEG
//! decoders differ (Pillow's libjpeg-turbo and the image crate's zune-jpeg) by a level here and
//! there, which the 2× upscale into tiles can make 3.

mod common;

use std::path::PathBuf;

use common::pattern;
use image::DynamicImage;
use vlm::image::tiles::{TilingPreprocessor, IMAGENET_STD};
use vlm::image::Preprocessor;
use vlm::weights::safetensors::{read_i64, SafeTensors};
use vlm::weights::TensorSource;

const STRIDE: usize = 14;
const OFFSET: usize = 5;
const SUB: usize = 32;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Largest and mean difference, in 1/255 units, between our tiles of `image` and the stored
/// subsample of transformers' for `case`; panics when the tile counts differ.
fn compare(case: &str, image: &DynamicImage) -> (f32, f64) {
    let mut want = SafeTensors::open(&fixtures().join("internvl-preprocess.safetensors")).unwrap();
    let mut ints = |what: &str| {
        read_i64(&mut want, &format!("{case}.{what}"))
            .unwrap()
            .unwrap()
            .1
    };
    let max_patches = ints("max_patches")[0] as usize;
    let tiles = ints("num_patches")[0] as usize;
    let processor = TilingPreprocessor::from_file(
        &fixtures().join("internvl-preprocessor/preprocessor_config.json"),
    )
    .unwrap();
    assert_eq!(processor, TilingPreprocessor::internvl());
    let got = processor
        .with_max_patches(max_patches)
        .unwrap()
        .process(image, case)
        .unwrap();
    assert_eq!(got.count, tiles, "{case}: tile count");
    let sub = want.read(&format!("{case}.pixels_sub")).unwrap().unwrap();
    assert_eq!(sub.shape, [tiles, 3, SUB, SUB]);
    let (mut worst, mut total) = (0.0f32, 0.0f64);
    for (i, w) in sub.data.iter().enumerate() {
        let (tile, c) = (i / (3 * SUB * SUB), i / (SUB * SUB) % 3);
        let (y, x) = (
            OFFSET + STRIDE * (i / SUB % SUB),
            OFFSET + STRIDE * (i % SUB),
        );
        let g = got.pixels[((tile * 3 + c) * 448 + y) * 448 + x];
        let d = (g - w).abs() * IMAGENET_STD[c] * 255.0;
        worst = worst.max(d);
        total += d as f64;
    }
    let mean = total / sub.data.len() as f64;
    eprintln!("{case}: {tiles} tiles, max difference {worst:.3} / 255, mean {mean:.4} / 255");
    (worst, mean)
}

fn boxed(case: &str) -> [u32; 4] {
    let mut want = SafeTensors::open(&fixtures().join("internvl-preprocess.safetensors")).unwrap();
    let b = read_i64(&mut want, &format!("{case}.box"))
        .unwrap()
        .unwrap()
        .1;
    [b[0], b[1], b[2], b[3]].map(|v| v as u32)
}

const CASES: [&str; 5] = ["photo", "wide", "tall", "small", "photo4"];

#[test]
fn pattern_tiles_are_the_pil_backends_bytes() {
    for case in CASES {
        let case = format!("pattern-{case}");
        let [_, _, w, h] = boxed(&case);
        let (worst, _) = compare(&case, &pattern(w, h));
        // Normalisation in f32 both ways: the same bytes give the same floats to rounding.
        assert!(worst < 1e-3, "{case}: max difference {worst} / 255");
    }
}

#[test]
#[ignore = "needs VLM_INSPECT_CLIP_IMAGE_DIR (scripts/setup.sh fetches it; scripts/test.sh runs it)"]
fn franz_kafka_tiles_match_the_pil_backend() {
    let dir = std::env::var_os("VLM_INSPECT_CLIP_IMAGE_DIR")
        .map(PathBuf::from)
        .expect("set VLM_INSPECT_CLIP_IMAGE_DIR (scripts/setup.sh fetches it)");
    let bytes = std::fs::read(dir.join("franz-kafka.jpg")).unwrap();
    let photo = Preprocessor::decode(&bytes, "franz-kafka.jpg").unwrap();
    for case in CASES {
        let [x0, y0, x1, y1] = boxed(case);
        let (worst, mean) = compare(case, &photo.crop_imm(x0, y0, x1 - x0, y1 - y0));
        assert!(worst <= 3.0 + 1e-3, "{case}: max difference {worst} / 255");
        assert!(mean < 0.02, "{case}: mean difference {mean} / 255");
    }
}
