//! `vlm-inspect preprocess`: a model's image processor on one image, its output written to a
//! safetensors file — the tool for checking preprocessing against a reference.

use std::path::PathBuf;

use clap::Args;
use vlm::weights::safetensors::write;

#[derive(Debug, Args)]
pub struct PreprocessArgs {
    /// A LLaVA or InternVL folder (its preprocessor_config.json, else the model's defaults).
    #[arg(long)]
    pub model: PathBuf,
    /// A PNG or JPEG image.
    #[arg(long)]
    pub image: PathBuf,
    /// Where to write `pixel_values` (F32 [tiles, 3, H, W]) and, for tiling processors,
    /// `num_patches` (I64 [1]).
    #[arg(long)]
    pub out: PathBuf,
    /// InternVL: at most this many tiles (the thumbnail besides); default the processor's.
    #[arg(long)]
    pub max_patches: Option<usize>,
}

pub fn run(args: PreprocessArgs) -> anyhow::Result<()> {
    let dir = &args.model;
    if vlm::internvl::is_internvl_dir(dir) {
        let cfg = vlm::internvl::InternVlConfig::from_file(&dir.join("config.json"))?;
        let mut p = vlm::internvl::open::processor(dir, &cfg)?;
        if let Some(n) = args.max_patches {
            p = p
                .with_max_patches(n)
                .map_err(|e| anyhow::anyhow!("--max-patches {n}: {e}"))?;
        }
        let tiles = p.load(&args.image)?;
        let t = p.tile;
        write(
            &args.out,
            &[("pixel_values", &[tiles.count, 3, t, t], &tiles.pixels)],
            &[("num_patches", &[1], &[tiles.count as i64])],
        )?;
        println!(
            "wrote pixel_values [{}, 3, {t}, {t}] and num_patches to {}",
            tiles.count,
            args.out.display()
        );
    } else if vlm::llava::is_llava_dir(dir) {
        if args.max_patches.is_some() {
            anyhow::bail!(
                "--max-patches is for tiling processors (InternVL); {} is LLaVA",
                dir.display()
            );
        }
        let cfg = vlm::llava::LlavaConfig::from_file(&dir.join("config.json"))?;
        let p = vlm::llava::open::processor(dir, &cfg)?;
        let pixels = p.load(&args.image)?;
        let c = p.crop;
        write(&args.out, &[("pixel_values", &[1, 3, c, c], &pixels)], &[])?;
        println!(
            "wrote pixel_values [1, 3, {c}, {c}] to {}",
            args.out.display()
        );
    } else {
        anyhow::bail!(
            "{} is not a LLaVA or InternVL folder (config.json's model_type)",
            dir.display()
        );
    }
    Ok(())
}
