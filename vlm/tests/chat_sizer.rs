//! The prompt sizer (no weights) counts what the opened model's prompt really holds, for
//! LLaVA and InternVL, with one image or two, whole or with fewer tiles.

use std::path::{Path, PathBuf};

use vlm::chat::{open_vlm, PromptSizer};
use vlm::device::{cpu_device, Cpu};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A `w × h` PNG of a colour gradient.
fn png(dir: &Path, name: &str, w: u32, h: u32) -> PathBuf {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let path = dir.join(name);
    img.save(&path).unwrap();
    path
}

/// tiny-llava with a word-level tokenizer (`<image>` is 127), as the server tests make it.
fn llava_with_tokenizer(dir: &Path) -> PathBuf {
    let model = dir.join("tiny-llava");
    std::fs::create_dir_all(&model).unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture("tiny-llava").join(f), model.join(f)).unwrap();
    }
    let mut vocab = serde_json::Map::new();
    for (i, w) in ["<unk>", "<s>", "</s>", "USER", ":", "ASSISTANT"]
        .iter()
        .enumerate()
    {
        vocab.insert(w.to_string(), i.into());
    }
    vocab.insert("<image>".into(), 127.into());
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 127, "content": "<image>", "single_word": false, "lstrip": false,
            "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    std::fs::write(model.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    model
}

#[test]
fn sizer_counts_the_tokens_the_model_sees() {
    let dir = tempfile::tempdir().unwrap();
    let wide = png(dir.path(), "wide.png", 90, 30);
    let small = png(dir.path(), "small.png", 20, 20);
    let llava = llava_with_tokenizer(dir.path());
    for (model, max_patches) in [
        (fixture("tiny-internvl"), None),
        (fixture("tiny-internvl"), Some(2)),
        (llava, None),
    ] {
        let chat = open_vlm::<Cpu>(&model, &cpu_device()).unwrap();
        let sizer = PromptSizer::open(&model).unwrap();
        assert_eq!(sizer.context, chat.context());
        for (images, message) in [
            (vec![wide.clone()], "<image>\nIs it broken?"),
            (
                vec![small.clone(), wide.clone()],
                "<image>\n<image>\nCompare the two.",
            ),
        ] {
            let pixels = chat.load_images(&images, max_patches).unwrap();
            let tiles: Vec<usize> = images
                .iter()
                .map(|p| sizer.image_tiles(p, max_patches).unwrap())
                .collect();
            assert_eq!(
                tiles,
                pixels.per_image,
                "{} {max_patches:?}",
                model.display()
            );
            let text = chat.user_prompt(None, message).unwrap();
            let ids = chat.prompt_ids(&text, &pixels.per_image).unwrap();
            assert_eq!(
                sizer.tokens(None, message, &tiles).unwrap(),
                ids.len(),
                "{} {max_patches:?} {message:?}",
                model.display()
            );
        }
    }
}
