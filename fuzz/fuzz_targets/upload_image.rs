//! Image bytes from a person, as the server takes them: an upload (`server/src/web/upload.rs`:
//! the format and dimension checks, `vlm::image::Preprocessor::decode`, the PNG re-encoding),
//! a dataset import (`anomaly::dataset::check::decode`), and the model's preprocessing of the
//! decoded image (`Preprocessor::process` at LLaVA-1.5's 336 pixels). Any bytes are an image or
//! an error: no panic, and no allocation past what the size limits allow.
#![no_main]

use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, ImageReader};
use libfuzzer_sys::fuzz_target;
use vlm::image::Preprocessor;

/// The upload limits of `server/src/web/upload.rs` (the server crate is not a library to link
/// here): at most 8192 pixels a side and 40 megapixels.
const MAX_UPLOAD_SIDE: u32 = 8192;
const MAX_UPLOAD_PIXELS: u64 = 40_000_000;

/// The upload handler's checks and re-encoding; the decoded image when accepted.
fn upload(bytes: &[u8]) -> Option<image::DynamicImage> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    reader.format()?;
    let (w, h) = reader.into_dimensions().ok()?;
    if w == 0 || h == 0 {
        return None;
    }
    if w > MAX_UPLOAD_SIDE || h > MAX_UPLOAD_SIDE || w as u64 * h as u64 > MAX_UPLOAD_PIXELS {
        return None;
    }
    let img = Preprocessor::decode(bytes, "upload").ok()?;
    let mut png = Vec::new();
    img.to_rgb8()
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .expect("an RGB image encodes as PNG");
    Some(img)
}

fuzz_target!(|data: &[u8]| {
    if let Some(img) = upload(data) {
        let pixels = Preprocessor::clip(336).process(&img);
        assert_eq!(pixels.len(), 3 * 336 * 336);
    }
    let _ = anomaly::dataset::check::decode(Path::new("fuzz.png"), data);
});
