//! transformers' `GotOcr2ImageProcessor` (PIL backend) with `crop_to_patches`, as
//! `InternVLProcessor` calls it: the image is resized with Pillow's bicubic to the grid of
//! square tiles whose aspect ratio is closest to its own (between `min_patches` and
//! `max_patches` tiles), cut into those tiles row by row, and, when there is more than one, a
//! thumbnail of the whole image is added last; then rescale by 1/255 and normalise.

use std::path::Path;

use image::DynamicImage;

use super::preprocess::{three_numbers, ImageError};
use super::resize::bicubic_resize;

/// ImageNet's normalisation, InternVL's.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// The processor's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct TilingPreprocessor {
    /// Side of each square tile.
    pub tile: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    pub min_patches: usize,
    pub max_patches: usize,
}

/// One image's tiles.
#[derive(Clone, Debug, PartialEq)]
pub struct Tiles {
    /// `[count, 3, tile, tile]`, channels first, in the model's order.
    pub pixels: Vec<f32>,
    pub count: usize,
}

/// The processor classes whose output this reproduces (`image_processor_type`).
const KNOWN_TYPES: [&str; 3] = [
    "GotOcr2ImageProcessor",
    "GotOcr2ImageProcessorFast",
    "GotOcr2ImageProcessorPil",
];

impl TilingPreprocessor {
    /// InternVL3's: 448 px tiles, ImageNet mean and std, 1 to 12 tiles.
    pub fn internvl() -> Self {
        TilingPreprocessor {
            tile: 448,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
            min_patches: 1,
            max_patches: 12,
        }
    }

    /// Reads `preprocessor_config.json` (`image_processor_type`, `size`, `image_mean`,
    /// `image_std`, `min_patches`, `max_patches`). `crop_to_patches` there is what the processor
    /// does alone; InternVLProcessor always crops, and so does this.
    pub fn from_file(path: &Path) -> Result<Self, ImageError> {
        let bad = |reason: String| ImageError::Config {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        match v.get("image_processor_type").and_then(|t| t.as_str()) {
            Some(t) if KNOWN_TYPES.contains(&t) => {}
            Some(t) => {
                return Err(bad(format!(
                    "image_processor_type {t:?} is not supported for tiling (only {})",
                    KNOWN_TYPES.join(", ")
                )))
            }
            None => return Err(bad("image_processor_type is missing".into())),
        }
        let number = |key: &str| v.get(key).and_then(|n| n.as_u64()).map(|n| n as usize);
        let size = v.get("size");
        let side = |k: &str| size.and_then(|s| s.get(k)).and_then(|n| n.as_u64());
        let tile = match (side("height"), side("width")) {
            (Some(h), Some(w)) if h == w => h as usize,
            (None, None) => 384,
            (h, w) => {
                return Err(bad(format!(
                    "size must be a square (height {h:?}, width {w:?})"
                )))
            }
        };
        let triple = |key: &str, default: [f32; 3]| three_numbers(&v, key, default).map_err(bad);
        // GotOcr2ImageProcessor's own defaults are CLIP's; InternVL's files always name theirs.
        let p = TilingPreprocessor {
            tile,
            mean: triple("image_mean", super::preprocess::CLIP_MEAN)?,
            std: triple("image_std", super::preprocess::CLIP_STD)?,
            min_patches: number("min_patches").unwrap_or(1),
            max_patches: number("max_patches").unwrap_or(12),
        };
        p.check().map_err(bad)?;
        Ok(p)
    }

    /// The same with another tile limit (a run's `max_patches`, so two images fit the context).
    pub fn with_max_patches(mut self, max_patches: usize) -> Result<Self, String> {
        self.max_patches = max_patches;
        self.check()?;
        Ok(self)
    }

    fn check(&self) -> Result<(), String> {
        if self.tile == 0 || self.std.contains(&0.0) {
            return Err("the tile size and std must be positive".into());
        }
        if self.min_patches == 0 || self.min_patches > self.max_patches {
            return Err(format!(
                "min_patches ({}) must be at least 1 and at most max_patches ({})",
                self.min_patches, self.max_patches
            ));
        }
        Ok(())
    }

    /// Columns and rows of tiles for a `width × height` image: transformers'
    /// `get_optimal_tiled_canvas` (closest aspect ratio; on a tie the grid with more tiles,
    /// while the image's area is above half of the tiles').
    pub fn grid(&self, width: usize, height: usize) -> (usize, usize) {
        let n = self.max_patches;
        let mut grids: Vec<(usize, usize)> = (1..=n)
            .flat_map(|w| (1..=n).map(move |h| (w, h)))
            .filter(|&(w, h)| (self.min_patches..=n).contains(&(w * h)))
            .collect();
        grids.sort_by_key(|&(w, h)| w * h);
        let aspect = width as f64 / height as f64;
        let area = (width * height) as f64;
        let mut best = (f64::INFINITY, (1, 1));
        for (w, h) in grids {
            let diff = (aspect - w as f64 / h as f64).abs();
            if diff < best.0 {
                best = (diff, (w, h));
            } else if diff == best.0 && area > 0.5 * (self.tile * self.tile * w * h) as f64 {
                best.1 = (w, h);
            }
        }
        best.1
    }

    /// How many tiles a `width × height` image becomes: the grid's, and a thumbnail when the
    /// grid has more than one. (`max_patches` 1 leaves only the 1×1 grid: one plain resize, as
    /// the processor does without cropping.)
    pub fn tile_count(&self, width: usize, height: usize) -> usize {
        let (c, r) = self.grid(width, height);
        with_thumbnail(c * r)
    }

    /// Reads, decodes and tiles an image file.
    pub fn load(&self, path: &Path) -> Result<Tiles, ImageError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ImageError::Io {
            source_name: name.clone(),
            reason: e.to_string(),
        })?;
        self.process(&super::Preprocessor::decode(&bytes, &name)?, &name)
    }

    /// The tiles of an image; an empty image is refused, naming `source_name`.
    pub fn process(&self, img: &DynamicImage, source_name: &str) -> Result<Tiles, ImageError> {
        let rgb = img.to_rgb8();
        let (w, h) = (rgb.width() as usize, rgb.height() as usize);
        if w == 0 || h == 0 {
            return Err(ImageError::Decode {
                source_name: source_name.to_string(),
                reason: format!("the image is {w}×{h} pixels"),
            });
        }
        let data = rgb.into_raw();
        let t = self.tile;
        let (cols, rows) = self.grid(w, h);
        let count = with_thumbnail(cols * rows);
        let mut pixels = Vec::with_capacity(count * 3 * t * t);
        let canvas = bicubic_resize(&data, (w, h), 3, (cols * t, rows * t));
        for i in 0..cols * rows {
            let (col, row) = (i % cols, i / cols);
            self.push_tile(&mut pixels, &canvas, cols * t, (col * t, row * t));
        }
        if count > cols * rows {
            let thumbnail = bicubic_resize(&data, (w, h), 3, (t, t));
            self.push_tile(&mut pixels, &thumbnail, t, (0, 0));
        }
        Ok(Tiles { pixels, count })
    }

    /// Appends the `tile × tile` square at `(x0, y0)` of an interleaved RGB image `width`
    /// pixels wide, rescaled and normalised, channels first.
    fn push_tile(&self, out: &mut Vec<f32>, rgb: &[u8], width: usize, (x0, y0): (usize, usize)) {
        let t = self.tile;
        for c in 0..3 {
            let (mean, std) = (self.mean[c], self.std[c]);
            for y in y0..y0 + t {
                let row = &rgb[(y * width + x0) * 3..(y * width + x0 + t) * 3];
                out.extend(
                    row.chunks_exact(3)
                        .map(|px| (px[c] as f32 * (1.0 / 255.0) - mean) / std),
                );
            }
        }
    }
}

/// A grid of `n` tiles and its thumbnail, when there is more than one tile.
fn with_thumbnail(n: usize) -> usize {
    if n > 1 {
        n + 1
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// transformers' `get_all_supported_aspect_ratios(1, 4)` order and a few grids worked by
    /// hand.
    #[test]
    fn grids_follow_get_optimal_tiled_canvas() {
        let p = TilingPreprocessor::internvl();
        assert_eq!(p.grid(448, 448), (1, 1));
        assert_eq!(p.grid(1344, 448), (3, 1));
        assert_eq!(p.grid(450, 150), (3, 1));
        // 100×80 (aspect 1.25): 4×3 (1.333) is the closest of the grids up to 12 tiles.
        assert_eq!(p.grid(100, 80), (4, 3));
        // A tie (1×1 and 2×2 both exact for a square): more tiles while the image's area is
        // above half of theirs.
        assert_eq!(p.grid(900, 900), (2, 2));
        assert_eq!(p.grid(300, 300), (1, 1));
        assert_eq!(p.tile_count(448, 448), 1);
        assert_eq!(p.tile_count(1344, 448), 4);
        let four = p.clone().with_max_patches(4).unwrap();
        assert_eq!(four.grid(450, 655), (1, 2));
        assert!(p.clone().with_max_patches(0).is_err());
    }

    #[test]
    fn tiles_are_cut_row_by_row_with_the_thumbnail_last() {
        // A 4×2 image of two flat halves (left 0, right 255) at 2-pixel tiles: a 2×1 grid,
        // the left tile all 0, the right all 255, then the thumbnail of both, dark on the left.
        let mut img = image::RgbImage::new(4, 2);
        for (x, _, px) in img.enumerate_pixels_mut() {
            *px = image::Rgb(if x < 2 { [0, 0, 0] } else { [255, 255, 255] });
        }
        let p = TilingPreprocessor {
            tile: 2,
            mean: [0.0; 3],
            std: [1.0; 3],
            min_patches: 1,
            max_patches: 12,
        };
        let tiles = p.process(&DynamicImage::ImageRgb8(img), "test").unwrap();
        assert_eq!(tiles.count, 3);
        let tile = |i: usize| &tiles.pixels[i * 12..(i + 1) * 12];
        assert!(tile(0).iter().all(|&v| v == 0.0));
        assert!(tile(1).iter().all(|&v| v == 1.0));
        let thumbnail = tile(2);
        assert!(thumbnail[0] < 0.5 && thumbnail[1] > 0.5, "{thumbnail:?}");
    }

    #[test]
    fn empty_images_and_unknown_processors_are_refused() {
        let p = TilingPreprocessor::internvl();
        let empty = DynamicImage::ImageRgb8(image::RgbImage::new(0, 5));
        let err = p.process(&empty, "blank.png").unwrap_err().to_string();
        assert!(err.contains("blank.png") && err.contains("0×5"), "{err}");
        let dir = std::env::temp_dir().join(format!("tiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("preprocessor_config.json");
        for (text, says) in [
            (
                r#"{"image_processor_type": "SiglipImageProcessor"}"#,
                "is not supported for tiling",
            ),
            (
                r#"{"size": {"height": 448, "width": 448}}"#,
                "image_processor_type is missing",
            ),
            (
                r#"{"image_processor_type": "GotOcr2ImageProcessor", "size": {"height": 448, "width": 224}}"#,
                "square",
            ),
            (
                r#"{"image_processor_type": "GotOcr2ImageProcessor", "min_patches": 5, "max_patches": 2}"#,
                "min_patches",
            ),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = TilingPreprocessor::from_file(&path)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("preprocessor_config.json") && err.contains(says),
                "{err}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
