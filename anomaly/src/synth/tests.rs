use std::collections::HashSet;

use super::*;
use crate::dataset::layout::scan_loco;
use crate::dataset::qa::{parse_jsonl, QaSource};

fn small() -> SynthConfig {
    SynthConfig {
        seed: 11,
        size: 96,
        counts: Counts {
            train: 2,
            validation: 1,
            good: 2,
            logical: 4,
            structural: 3,
        },
        ..SynthConfig::default()
    }
}

#[test]
fn generates_a_loco_tree_the_reader_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let report = generate(&out, &small()).unwrap();
    assert_eq!(report.images, 5 * 12);
    assert_eq!(report.anomalies, 5 * 7);
    assert_eq!(report.qa, 2 * report.images);

    let scan = scan_loco(&out, None).unwrap();
    assert_eq!(scan.images.len(), report.images);
    for img in &scan.images {
        // Masks exist exactly for anomalies, and are not empty.
        assert_eq!(
            img.masks.len(),
            usize::from(img.label.is_anomalous()),
            "{}",
            img.rel_path
        );
        for m in &img.masks {
            let mask = image::open(out.join(m)).unwrap().to_luma8();
            assert!(mask.pixels().any(|p| p.0[0] == 255), "{m} is empty");
        }
    }

    let known: HashSet<String> = scan.images.iter().map(|i| i.rel_path.clone()).collect();
    let text = std::fs::read_to_string(out.join("qa.jsonl")).unwrap();
    let qa = parse_jsonl("qa.jsonl", &text, Some(&known)).unwrap();
    for img in &scan.images {
        let mine: Vec<_> = qa.iter().filter(|q| q.image == img.rel_path).collect();
        assert_eq!(mine.len(), 2);
        assert!(mine.iter().any(|q| q.source == QaSource::Manual));
        assert!(mine.iter().any(|q| q.source == QaSource::GeneratedVerified));
        for q in mine {
            if img.label.is_anomalous() {
                assert!(
                    q.answer.to_lowercase().contains(img.label.as_str()),
                    "{}: {}",
                    img.rel_path,
                    q.answer
                );
                assert!(q.anomaly.is_some() && q.region.is_some());
            } else {
                assert!(
                    q.answer.starts_with("No") || q.answer.starts_with("Normal"),
                    "{}",
                    q.answer
                );
            }
        }
    }
}

#[test]
fn every_category_renders_every_anomaly_kind_with_a_description() {
    for spec in &CATEGORIES {
        for (label, kinds) in [
            (Label::Logical, spec.logical),
            (Label::Structural, spec.structural),
        ] {
            for &kind in kinds {
                let mut rng = Rng::new(3);
                let mut canvas = Canvas::new(96, spec.background, 0.02);
                let what = (spec.render)(&mut canvas, &mut rng, Some(kind));
                let what =
                    what.unwrap_or_else(|| panic!("{} {kind} has no description", spec.name));
                assert!(
                    canvas.has_mask(),
                    "{} {kind} ({label}) marks nothing",
                    spec.name
                );
                let [manual, verbose] =
                    qa::annotations("x.png", spec, label, Some(kind), Some(&what), None);
                assert!(manual.answer.contains(&what) && verbose.answer.contains(&what));
            }
        }
        let mut canvas = Canvas::new(96, spec.background, 0.0);
        assert!((spec.render)(&mut canvas, &mut Rng::new(1), None).is_none());
        assert!(!canvas.has_mask(), "{} normal image has a mask", spec.name);
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_images() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        categories: vec!["pushpins".into()],
        ..small()
    };
    generate(&dir.path().join("a"), &cfg).unwrap();
    generate(&dir.path().join("b"), &cfg).unwrap();
    generate(
        &dir.path().join("c"),
        &SynthConfig {
            seed: 12,
            ..cfg.clone()
        },
    )
    .unwrap();
    let read = |set: &str, rel: &str| std::fs::read(dir.path().join(set).join(rel)).unwrap();
    for rel in [
        "pushpins/train/good/000.png",
        "pushpins/test/logical_anomalies/001.png",
        "qa.jsonl",
    ] {
        assert_eq!(read("a", rel), read("b", rel), "{rel}");
    }
    assert_ne!(
        read("a", "pushpins/train/good/000.png"),
        read("c", "pushpins/train/good/000.png")
    );
}

#[test]
fn normal_images_vary() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        categories: vec!["juice_bottle".into()],
        ..small()
    };
    generate(&dir.path().join("a"), &cfg).unwrap();
    let a = image::open(dir.path().join("a/juice_bottle/train/good/000.png"))
        .unwrap()
        .to_rgb8();
    let b = image::open(dir.path().join("a/juice_bottle/train/good/001.png"))
        .unwrap()
        .to_rgb8();
    let differing = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
    assert!(
        differing > a.len() / 6,
        "two normal images differ in only {differing} pixels"
    );
}

#[test]
fn bad_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad_cat = SynthConfig {
        categories: vec!["teapots".into()],
        ..small()
    };
    assert!(generate(dir.path(), &bad_cat)
        .unwrap_err()
        .to_string()
        .contains("unknown category"));
    assert!(generate(dir.path(), &SynthConfig { size: 8, ..small() }).is_err());
    std::fs::write(dir.path().join("keep.txt"), b"mine").unwrap();
    let err = generate(dir.path(), &small()).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("keep.txt")).unwrap(), b"mine");
}

#[test]
fn count_overrides() {
    let c = Counts::DEMO.with_overrides("train=3,logical=5").unwrap();
    assert_eq!((c.train, c.logical, c.good), (3, 5, Counts::DEMO.good));
    assert_eq!(Counts::DEMO.with_overrides("2").unwrap().structural, 2);
    assert!(Counts::DEMO.with_overrides("trian=3").is_err());
    assert!(Counts::DEMO.with_overrides("train=-1").is_err());
}

#[test]
fn the_stream_cycles_products_and_labels_with_masks_and_differs_by_seed() {
    let names: Vec<&str> = CATEGORIES.iter().map(|c| c.name).collect();
    let mut kinds_seen = HashSet::new();
    for n in 0..40u64 {
        let s = stream_sample(5, 64, n);
        assert_eq!(s.category, names[(n % 5) as usize], "{n}");
        let want = match (n / 5) % 4 {
            2 => Label::Logical,
            3 => Label::Structural,
            _ => Label::Good,
        };
        assert_eq!(s.label, want, "{n}");
        assert_eq!(
            s.mask.is_some(),
            want.is_anomalous(),
            "{n}: a mask for every anomaly"
        );
        assert_eq!(s.kind.is_some(), want.is_anomalous(), "{n}");
        if let Some(k) = s.kind {
            kinds_seen.insert(k);
            assert!(
                kind_names().contains(&k.replace('_', " ")),
                "{k} is in the vocabulary"
            );
        }
        assert_eq!((s.image.width(), s.image.height()), (64, 64));
    }
    // 40 images: 2 rounds of each product's logical and structural kinds.
    assert!(kinds_seen.len() >= 10, "{kinds_seen:?}");
    let a = stream_sample(5, 64, 17);
    assert_eq!(a.image, stream_sample(5, 64, 17).image, "deterministic");
    assert_ne!(a.image, stream_sample(6, 64, 17).image, "the seed matters");
}

/// The stream's images are not a written set's: a set of the same seed holds other pixels.
#[test]
fn the_stream_never_repeats_a_written_set() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SynthConfig {
        categories: vec![CATEGORIES[0].name.into()],
        ..small()
    };
    generate(dir.path(), &cfg).unwrap();
    let written = image::open(
        dir.path()
            .join(CATEGORIES[0].name)
            .join("train/good/000.png"),
    )
    .unwrap()
    .to_rgb8();
    // Stream image 0 is product 0's first normal image, index 0, as train/good/000.png is.
    let streamed = stream_sample(cfg.seed, cfg.size, 0);
    assert_eq!(streamed.category, CATEGORIES[0].name);
    assert_ne!(streamed.image, written);
}
