//! `CLIPImageProcessor` for LLaVA-1.5: convert to RGB, resize the shortest side with Pillow's
//! bicubic, centre crop, rescale by 1/255, normalise with the CLIP mean and std; channels first.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageReader, Limits};

use super::resize::bicubic_resize_window;

/// OpenAI CLIP's normalisation, written as LLaVA-1.5's `preprocessor_config.json` has it.
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
#[allow(clippy::excessive_precision)]
pub const CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];
/// Larger images are refused before decoding (a 100-megapixel photo is surely a mistake).
pub const MAX_SIDE: u32 = 16_384;
pub const MAX_PIXELS: u64 = 100_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("{source_name}: cannot read: {reason}")]
    Io { source_name: String, reason: String },
    #[error("{source_name}: not an image this tool can decode: {reason}")]
    Decode { source_name: String, reason: String },
    #[error("{source_name}: {width}×{height} is too large (at most {MAX_SIDE} px a side and {MAX_PIXELS} pixels)")]
    TooLarge {
        source_name: String,
        width: u32,
        height: u32,
    },
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
}

/// The processor's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessor {
    /// Target length of the shortest side.
    pub shortest_edge: usize,
    /// Side of the square centre crop.
    pub crop: usize,
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// The original LLaVA's `expand2square`: pad to a square with the mean colour first.
    pub pad_to_square: bool,
}

impl Preprocessor {
    /// CLIP's processor at `size` pixels (336 for LLaVA-1.5).
    pub fn clip(size: usize) -> Self {
        Preprocessor {
            shortest_edge: size,
            crop: size,
            mean: CLIP_MEAN,
            std: CLIP_STD,
            pad_to_square: false,
        }
    }

    /// Reads `preprocessor_config.json` (size, crop_size, image_mean, image_std).
    pub fn from_file(path: &Path) -> Result<Self, ImageError> {
        let bad = |reason: String| ImageError::Config {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let side = |key: &str, inner: &[&str]| -> Option<usize> {
            let x = v.get(key)?;
            x.as_u64()
                .or_else(|| {
                    inner
                        .iter()
                        .find_map(|k| x.get(*k).and_then(|y| y.as_u64()))
                })
                .map(|n| n as usize)
        };
        let triple = |key: &str, default: [f32; 3]| three_numbers(&v, key, default).map_err(bad);
        let shortest_edge = side("size", &["shortest_edge", "height"]).unwrap_or(224);
        let p = Preprocessor {
            shortest_edge,
            crop: side("crop_size", &["height"]).unwrap_or(shortest_edge),
            mean: triple("image_mean", CLIP_MEAN)?,
            std: triple("image_std", CLIP_STD)?,
            pad_to_square: false,
        };
        if p.shortest_edge == 0 || p.crop == 0 || p.std.contains(&0.0) {
            return Err(bad("sizes and std must be positive".into()));
        }
        Ok(p)
    }

    /// Decodes an image file's bytes; any colour type (grey, alpha, 16-bit, CMYK JPEG) becomes
    /// 8-bit RGB, alpha dropped as Pillow's `convert("RGB")` does.
    pub fn decode(bytes: &[u8], source_name: &str) -> Result<DynamicImage, ImageError> {
        let err = |e: &dyn std::fmt::Display| ImageError::Decode {
            source_name: source_name.to_string(),
            reason: e.to_string(),
        };
        let reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| err(&e))?;
        let (width, height) = reader.into_dimensions().map_err(|e| err(&e))?;
        if width > MAX_SIDE || height > MAX_SIDE || width as u64 * height as u64 > MAX_PIXELS {
            return Err(ImageError::TooLarge {
                source_name: source_name.to_string(),
                width,
                height,
            });
        }
        let mut reader = ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| err(&e))?;
        let mut limits = Limits::default();
        limits.max_alloc = Some(MAX_PIXELS * 8);
        reader.limits(limits);
        reader.decode().map_err(|e| err(&e))
    }

    /// Reads and processes an image file.
    pub fn load(&self, path: &Path) -> Result<Vec<f32>, ImageError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ImageError::Io {
            source_name: name.clone(),
            reason: e.to_string(),
        })?;
        Ok(self.process(&Self::decode(&bytes, &name)?))
    }

    /// The pixel values `[3, crop, crop]`, channels first.
    pub fn process(&self, img: &DynamicImage) -> Vec<f32> {
        let rgb = img.to_rgb8();
        let (mut w, mut h) = (rgb.width() as usize, rgb.height() as usize);
        let mut data = rgb.into_raw();
        if self.pad_to_square && w != h {
            (data, w, h) = self.expand_to_square(&data, w, h);
        }
        // transformers: the shortest side becomes `shortest_edge`, the other is truncated.
        let (nw, nh) = if w <= h {
            (self.shortest_edge, self.shortest_edge * h / w)
        } else {
            (self.shortest_edge * w / h, self.shortest_edge)
        };
        let c = self.crop;
        let (top, left) = (nh.saturating_sub(c) / 2, nw.saturating_sub(c) / 2);
        let (crop_w, crop_h) = (c.min(nw), c.min(nh));
        // Only the crop is resized: at 336 pixels an 8192×1 upload would otherwise become a
        // 2,752,512×336 strip (2.8 GB) of which all but the centre square is thrown away.
        let window = (left..left + crop_w, top..top + crop_h);
        let data = bicubic_resize_window(&data, (w, h), 3, (nw, nh), window);
        let mut out = vec![0.0f32; 3 * c * c];
        for y in 0..crop_h {
            for x in 0..crop_w {
                for ch in 0..3 {
                    let v = data[(y * crop_w + x) * 3 + ch] as f32 * (1.0 / 255.0);
                    out[(ch * c + y) * c + x] = (v - self.mean[ch]) / self.std[ch];
                }
            }
        }
        out
    }

    /// The original LLaVA's `expand2square`: centred on a square of the mean colour.
    fn expand_to_square(&self, data: &[u8], w: usize, h: usize) -> (Vec<u8>, usize, usize) {
        let side = w.max(h);
        let fill: Vec<u8> = self.mean.iter().map(|m| (m * 255.0) as u8).collect();
        let mut out: Vec<u8> = fill.iter().copied().cycle().take(side * side * 3).collect();
        let (ox, oy) = ((side - w) / 2, (side - h) / 2);
        for y in 0..h {
            let dst = ((oy + y) * side + ox) * 3;
            out[dst..dst + w * 3].copy_from_slice(&data[y * w * 3..(y + 1) * w * 3]);
        }
        (out, side, side)
    }
}

/// `key` of a processor config as three numbers (a mean or std), `default` when absent.
pub(crate) fn three_numbers(
    v: &serde_json::Value,
    key: &str,
    default: [f32; 3],
) -> Result<[f32; 3], String> {
    let Some(x) = v.get(key) else {
        return Ok(default);
    };
    let vals: Vec<f32> = x
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_f64())
                .map(|n| n as f32)
                .collect()
        })
        .unwrap_or_default();
    vals.try_into()
        .map_err(|_| format!("{key} must be three numbers"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, LumaA, Rgba};

    /// PNG's CRC-32 (IEEE), for editing a chunk.
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png(img: DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn any_colour_type_becomes_rgb() {
        let p = Preprocessor::clip(8);
        let grey = DynamicImage::ImageLuma16(ImageBuffer::from_pixel(10, 12, Luma([65535u16])));
        let alpha = DynamicImage::ImageLumaA8(ImageBuffer::from_pixel(9, 9, LumaA([255u8, 0])));
        let rgba =
            DynamicImage::ImageRgba8(ImageBuffer::from_pixel(9, 9, Rgba([255u8, 255, 255, 7])));
        for img in [grey, alpha, rgba] {
            let decoded = Preprocessor::decode(&png(img), "x.png").unwrap();
            let px = p.process(&decoded);
            assert_eq!(px.len(), 3 * 8 * 8);
            // White everywhere, alpha ignored: (1 - mean) / std per channel.
            for ch in 0..3 {
                let want = (1.0 - CLIP_MEAN[ch]) / CLIP_STD[ch];
                assert!((px[ch * 64 + 27] - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn bad_and_huge_images_are_clear_errors() {
        let err = Preprocessor::decode(b"not an image", "notes.txt").unwrap_err();
        assert!(
            err.to_string().starts_with("notes.txt: not an image"),
            "{err}"
        );
        let mut truncated = png(DynamicImage::new_rgb8(40, 40));
        truncated.truncate(truncated.len() / 2);
        assert!(Preprocessor::decode(&truncated, "half.png").is_err());
        // A PNG header claiming 20000×20000 pixels is refused before decoding.
        let mut huge = png(DynamicImage::new_rgb8(1, 1));
        huge[16..20].copy_from_slice(&20000u32.to_be_bytes());
        huge[20..24].copy_from_slice(&20000u32.to_be_bytes());
        let crc = crc32(&huge[12..29]);
        huge[29..33].copy_from_slice(&crc.to_be_bytes());
        let err = Preprocessor::decode(&huge, "huge.png").unwrap_err();
        assert!(matches!(err, ImageError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn a_thin_image_costs_its_crop_not_its_resize() {
        // Found by fuzz/fuzz_targets/upload_image.rs: its 1×40 seed took a second per run (the
        // whole 336×13440 resize was computed, then cropped); the uploads' 8192×1 limit case
        // would have allocated 2.8 GB. Only the crop is computed now, equal to the crop of
        // the whole resize.
        let tall: Vec<u8> = (0..40 * 3).map(|i| (i * 13 % 256) as u8).collect();
        let p = Preprocessor::clip(24);
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_raw(1, 40, tall.clone()).unwrap());
        let whole = super::super::resize::bicubic_resize(&tall, (1, 40), 3, (24, 960));
        let px = p.process(&img);
        let top = (960 - 24) / 2;
        for (y, x, ch) in [(0, 0, 0), (5, 23, 1), (23, 11, 2)] {
            let v = whole[((top + y) * 24 + x) * 3 + ch] as f32 * (1.0 / 255.0);
            assert_eq!(
                px[(ch * 24 + y) * 24 + x],
                (v - CLIP_MEAN[ch]) / CLIP_STD[ch]
            );
        }
        let strip = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(8192, 1, image::Rgb([9u8; 3])));
        let started = std::time::Instant::now();
        assert_eq!(Preprocessor::clip(336).process(&strip).len(), 3 * 336 * 336);
        assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());
    }

    #[test]
    fn pad_to_square_centres_the_image_on_the_mean_colour() {
        let p = Preprocessor {
            pad_to_square: true,
            ..Preprocessor::clip(4)
        };
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_pixel(4, 2, image::Rgb([0u8, 0, 0])));
        let px = p.process(&img);
        // Row 0 is padding: the mean colour, which normalises to about 0.
        assert!(px[0].abs() < 0.02, "{}", px[0]);
        // Row 1 is image: black.
        assert!((px[4 + 1] - (-CLIP_MEAN[0] / CLIP_STD[0])).abs() < 0.05);
    }
}
