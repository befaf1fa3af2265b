//! A prompt and its images as an OpenAI `chat/completions` request body.
//!
//! The prompt is the one the Burn models get: text with an `<image>` mark where each image
//! goes (a Chain-of-Image prompt marks the template first, then the test image). Each mark
//! becomes an `image_url` part holding the image as a base64 data URI, between the text parts
//! around it, so a remote model sees the same wording in the same order.

use std::io::Cursor;
use std::path::PathBuf;

use base64::Engine;
use image::{ImageFormat, ImageReader};
use serde_json::{json, Value};

use crate::endpoint::Endpoint;
use crate::error::RemoteError;

/// Where an image's place is in a prompt's text.
pub const IMAGE_MARK: &str = "<image>";

#[derive(Clone, Debug, PartialEq)]
pub enum ImageInput {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

/// One question to a chat model.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    pub system: Option<String>,
    /// The prompt, with one [`IMAGE_MARK`] per image (or none: the images then come first).
    pub text: String,
    pub images: Vec<ImageInput>,
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f64,
    pub seed: Option<u64>,
}

impl ChatRequest {
    /// The JSON body for `endpoint`.
    pub fn body(&self, endpoint: &Endpoint) -> Result<Value, RemoteError> {
        let mut messages = Vec::new();
        if let Some(system) = &self.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": self.parts(endpoint)?}));
        let mut body = json!({
            "model": endpoint.model,
            "messages": messages,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": endpoint.stream,
        });
        if let Some(seed) = self.seed {
            body["seed"] = json!(seed);
        }
        if endpoint.stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        Ok(body)
    }

    /// The user message's content parts in prompt order.
    fn parts(&self, endpoint: &Endpoint) -> Result<Vec<Value>, RemoteError> {
        let marks = self.text.matches(IMAGE_MARK).count();
        let mut images = self
            .images
            .iter()
            .enumerate()
            .map(|(i, img)| image_part(i, img, endpoint));
        let mut parts = Vec::new();
        if marks == 0 {
            for img in images.by_ref() {
                parts.push(img?);
            }
            push_text(&mut parts, &self.text);
            return Ok(parts);
        }
        if marks != self.images.len() {
            return Err(RemoteError::Config(format!(
                "the prompt marks {marks} image(s) but {} were given",
                self.images.len()
            )));
        }
        let mut pieces = self.text.split(IMAGE_MARK);
        push_text(&mut parts, pieces.next().unwrap_or_default());
        for piece in pieces {
            if let Some(img) = images.next() {
                parts.push(img?);
            }
            // The newline that ends a mark's line in the local template belongs to the mark.
            push_text(&mut parts, piece.strip_prefix('\n').unwrap_or(piece));
        }
        Ok(parts)
    }
}

fn push_text(parts: &mut Vec<Value>, text: &str) {
    if !text.trim().is_empty() {
        parts.push(json!({"type": "text", "text": text}));
    }
}

fn image_part(index: usize, image: &ImageInput, endpoint: &Endpoint) -> Result<Value, RemoteError> {
    let bad = |reason: String| RemoteError::Image { index, reason };
    let bytes = match image {
        ImageInput::Path(p) => {
            std::fs::read(p).map_err(|e| bad(format!("cannot read {}: {e}", p.display())))?
        }
        ImageInput::Bytes(b) => b.clone(),
    };
    let (mime, bytes) = encoded(&bytes, endpoint.max_image_side).map_err(bad)?;
    let url = format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    );
    let mut image_url = json!({"url": url});
    if let Some(detail) = endpoint.detail {
        image_url["detail"] = json!(detail.as_str());
    }
    Ok(json!({"type": "image_url", "image_url": image_url}))
}

/// PNG and JPEG go as they are unless larger than `max_side`; other formats, and images to
/// shrink, are re-encoded (JPEG stays JPEG, the rest becomes PNG).
pub fn encoded(bytes: &[u8], max_side: Option<u32>) -> Result<(&'static str, Vec<u8>), String> {
    let format = image::guess_format(bytes).map_err(|e| format!("not an image: {e}"))?;
    let sendable = matches!(format, ImageFormat::Png | ImageFormat::Jpeg);
    let decode = || {
        ImageReader::with_format(Cursor::new(bytes), format)
            .decode()
            .map_err(|e| format!("cannot decode: {e}"))
    };
    let mut img = None;
    if let Some(max) = max_side {
        let decoded = decode()?;
        if decoded.width().max(decoded.height()) > max {
            img = Some(decoded.resize(max, max, image::imageops::FilterType::Triangle));
        } else if !sendable {
            img = Some(decoded);
        }
    } else if !sendable {
        img = Some(decode()?);
    }
    let Some(img) = img else {
        let mime = if format == ImageFormat::Png {
            "image/png"
        } else {
            "image/jpeg"
        };
        return Ok((mime, bytes.to_vec()));
    };
    let (mime, out_format) = if format == ImageFormat::Jpeg {
        ("image/jpeg", ImageFormat::Jpeg)
    } else {
        ("image/png", ImageFormat::Png)
    };
    let img = if out_format == ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(img.to_rgb8())
    } else {
        img
    };
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, out_format)
        .map_err(|e| format!("cannot encode: {e}"))?;
    Ok((mime, out.into_inner()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn endpoint() -> Endpoint {
        Endpoint::new("http://127.0.0.1:9/v1", "m").unwrap()
    }

    #[test]
    fn chain_of_image_prompts_keep_their_order_and_wording() {
        let req = ChatRequest {
            system: None,
            text: "The first image is a normal template.\n<image>\nThe second is the test image.\n<image>\nIs it normal?".into(),
            images: vec![ImageInput::Bytes(png(4, 4)), ImageInput::Bytes(png(3, 3))],
            max_tokens: 64,
            temperature: 0.0,
            seed: Some(7),
        };
        let body = req.body(&endpoint()).unwrap();
        let parts = body["messages"][0]["content"].as_array().unwrap();
        let kinds: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["text", "image_url", "text", "image_url", "text"]);
        assert_eq!(parts[0]["text"], "The first image is a normal template.\n");
        assert_eq!(parts[2]["text"], "The second is the test image.\n");
        assert_eq!(parts[4]["text"], "Is it normal?");
        let url = parts[1]["image_url"]["url"].as_str().unwrap();
        assert!(url.starts_with("data:image/png;base64,"));
        let sent = base64::engine::general_purpose::STANDARD
            .decode(&url["data:image/png;base64,".len()..])
            .unwrap();
        assert_eq!(sent, png(4, 4), "sent as it is");
        assert_eq!(body["seed"], 7);
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["stream_options"]["include_usage"], true);
        assert!(parts[1]["image_url"].get("detail").is_none());
    }

    #[test]
    fn unmarked_images_go_first_and_a_wrong_count_is_an_error() {
        let mut req = ChatRequest {
            system: Some("You are an inspector.".into()),
            text: "Describe.".into(),
            images: vec![ImageInput::Bytes(png(2, 2))],
            max_tokens: 8,
            temperature: 0.0,
            seed: None,
        };
        let mut e = endpoint();
        e.detail = Some(crate::Detail::Low);
        e.stream = false;
        let body = req.body(&e).unwrap();
        assert_eq!(body["messages"][0]["role"], "system");
        let parts = body["messages"][1]["content"].as_array().unwrap();
        assert_eq!(parts[0]["image_url"]["detail"], "low");
        assert_eq!(parts[1]["text"], "Describe.");
        assert!(body.get("stream_options").is_none() && body.get("seed").is_none());
        req.text = "<image> <image> two marks".into();
        assert!(matches!(req.body(&e), Err(RemoteError::Config(m)) if m.contains("marks 2")));
        req.text = "<image>".into();
        req.images = vec![ImageInput::Bytes(b"not an image".to_vec())];
        assert!(matches!(
            req.body(&e),
            Err(RemoteError::Image { index: 0, .. })
        ));
    }

    #[test]
    fn large_images_shrink_to_the_longest_side() {
        let (mime, out) = encoded(&png(400, 100), Some(200)).unwrap();
        assert_eq!(mime, "image/png");
        let img = image::load_from_memory(&out).unwrap();
        assert_eq!((img.width(), img.height()), (200, 50));
        let small = png(50, 50);
        assert_eq!(encoded(&small, Some(200)).unwrap().1, small);
    }
}
