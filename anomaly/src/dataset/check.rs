//! What an import checks per file: the image decodes (within size limits), masks decode and
//! match the image's size, and no two images have the same content.

use image::{DynamicImage, GrayImage, ImageReader, Limits};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use super::DatasetError;

/// Largest side accepted for an image, in pixels.
pub const MAX_SIDE: u32 = 8192;
/// Largest decoded size accepted (guards against decompression bombs).
pub const MAX_DECODED_BYTES: u64 = 512 << 20;

/// A decoded image file and its SHA-256.
#[derive(Debug)]
pub struct LoadedImage {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub image: DynamicImage,
}

/// Decodes image bytes with size limits; `path` names the file in errors.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<DynamicImage, DatasetError> {
    let bad = |reason: String| DatasetError::BadImage {
        path: path.to_path_buf(),
        reason,
    };
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    if reader.format().is_none() {
        return Err(bad("unknown or unsupported image format".into()));
    }
    reader.decode().map_err(|e| bad(e.to_string()))
}

/// Reads, hashes and decodes an image file.
pub fn load(path: &Path) -> Result<LoadedImage, DatasetError> {
    let bytes = std::fs::read(path).map_err(|e| DatasetError::io(path, e))?;
    let image = decode(path, &bytes)?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(LoadedImage {
        bytes,
        sha256,
        image,
    })
}

/// ORs several masks into one (255 where any mask is non-zero). Each must have the image's size.
pub fn combine_masks(
    root: &Path,
    image_rel: &str,
    size: (u32, u32),
    masks: &[String],
) -> Result<Option<GrayImage>, DatasetError> {
    if masks.is_empty() {
        return Ok(None);
    }
    let mut out = GrayImage::new(size.0, size.1);
    for rel in masks {
        let path = root.join(rel);
        let loaded = load(&path)?.image.to_luma8();
        if loaded.dimensions() != size {
            return Err(DatasetError::MaskSize {
                mask: path,
                image: root.join(image_rel),
                mask_size: loaded.dimensions(),
                image_size: size,
            });
        }
        for (o, m) in out.pixels_mut().zip(loaded.pixels()) {
            if m.0[0] > 0 {
                o.0[0] = 255;
            }
        }
    }
    Ok(Some(out))
}

/// Fails on the first two paths whose hashes are equal.
pub fn check_duplicates<'a>(
    items: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), DatasetError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (path, hash) in items {
        if let Some(first) = seen.insert(hash, path) {
            return Err(DatasetError::Duplicate {
                a: first.to_string(),
                b: path.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, v: u8) -> Vec<u8> {
        let img = GrayImage::from_pixel(w, h, image::Luma([v]));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn decodes_and_rejects_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.png");
        std::fs::write(&good, png(4, 3, 9)).unwrap();
        let l = load(&good).unwrap();
        assert_eq!((l.image.width(), l.image.height()), (4, 3));
        assert_eq!(l.sha256.len(), 64);

        let text = dir.path().join("notes.png");
        std::fs::write(&text, b"hello, not an image").unwrap();
        let err = load(&text).unwrap_err().to_string();
        assert!(
            err.contains("notes.png") && err.contains("not a readable image"),
            "{err}"
        );

        let bytes = png(64, 64, 1);
        let truncated = dir.path().join("cut.png");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(
            load(&truncated),
            Err(DatasetError::BadImage { .. })
        ));
    }

    #[test]
    fn masks_combine_and_must_match_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut a = GrayImage::new(4, 4);
        a.put_pixel(0, 0, image::Luma([255]));
        a.save(dir.path().join("a.png")).unwrap();
        let mut b = GrayImage::new(4, 4);
        b.put_pixel(3, 3, image::Luma([1]));
        b.save(dir.path().join("b.png")).unwrap();
        let m = combine_masks(
            dir.path(),
            "img.png",
            (4, 4),
            &["a.png".into(), "b.png".into()],
        )
        .unwrap()
        .unwrap();
        assert_eq!(m.pixels().filter(|p| p.0[0] == 255).count(), 2);
        assert!(combine_masks(dir.path(), "img.png", (4, 4), &[])
            .unwrap()
            .is_none());
        let err = combine_masks(dir.path(), "img.png", (5, 4), &["a.png".into()]).unwrap_err();
        assert!(matches!(err, DatasetError::MaskSize { .. }), "{err}");
    }

    #[test]
    fn duplicates_are_named() {
        assert!(check_duplicates([("a", "1"), ("b", "2")]).is_ok());
        let err = check_duplicates([("a", "1"), ("b", "2"), ("c", "1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a and c are the same image (duplicate content)"
        );
    }
}
