use crate::sql;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anomaly::dataset::qa::{parse_jsonl, to_jsonl};
use anomaly::synth::{generate, Counts, SynthConfig};

use super::*;
use crate::import::{ImportProgress, ImportRequest, Layout, ProgressFn};
use crate::StoreOptions;

async fn store(dir: &Path) -> Store {
    crate::test_db::open(&dir.join("db.sqlite"), StoreOptions::default())
        .await
        .unwrap()
}

fn synth(out: &Path) {
    let cfg = SynthConfig {
        seed: 5,
        size: 64,
        counts: Counts {
            train: 3,
            validation: 1,
            good: 2,
            logical: 10,
            structural: 10,
        },
        categories: vec!["pushpins".into(), "screw_bag".into()],
    };
    generate(out, &cfg).unwrap();
}

fn quiet() -> ProgressFn {
    Arc::new(crate::import::go_on)
}

fn request(source: &Path, name: &str) -> ImportRequest {
    ImportRequest {
        source: source.to_path_buf(),
        layout: Layout::Loco,
        qa_file: None,
        name: name.into(),
        categories: None,
    }
}

/// Nothing of a failed import may remain: no dataset rows, no files.
async fn assert_untouched(s: &Store, files: &Path) {
    assert!(s.datasets().await.unwrap().is_empty());
    let (images,): (i64,) = sql::query_as("SELECT COUNT(*) FROM images")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(images, 0);
    let left: Vec<_> = std::fs::read_dir(files.join("datasets"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

/// A stop asked for while checking or while storing leaves nothing behind; a later import of
/// the same folder works.
#[tokio::test]
async fn a_cancelled_import_stores_nothing_in_either_phase() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    synth(&src);
    let files = dir.path().join("data");
    let s = store(dir.path()).await;
    for phase in ["checking", "storing"] {
        let stop: ProgressFn = Arc::new(move |p| {
            if p.phase == phase && p.done >= 25 {
                std::ops::ControlFlow::Break(())
            } else {
                std::ops::ControlFlow::Continue(())
            }
        });
        let err = s
            .import_dataset(&files, request(&src, "demo"), stop)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Cancelled), "{phase}: {err}");
        assert_untouched(&s, &files).await;
    }
    let report = s
        .import_dataset(&files, request(&src, "demo"), quiet())
        .await
        .unwrap();
    assert_eq!(report.images, 2 * 26);
}

/// Imports used to copy their files inside the write transaction: every other write (sign-ins,
/// job updates) waited the busy timeout out and failed with "database is locked".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writes_go_on_while_an_import_copies_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    synth(&src);
    let files = dir.path().join("data");
    let s = store(dir.path()).await;
    let other = s.clone();
    let runtime = tokio::runtime::Handle::current();
    let waited = Arc::new(Mutex::new(None::<(std::time::Duration, bool)>));
    let sink = waited.clone();
    let progress: ProgressFn = Arc::new(move |p| {
        let mut slot = sink.lock().unwrap();
        if p.phase == "storing" && slot.is_none() {
            let t = std::time::Instant::now();
            let wrote = runtime
                .block_on(other.register_model("during-import", "llama", "/x"))
                .is_ok();
            *slot = Some((t.elapsed(), wrote));
        }
        std::ops::ControlFlow::Continue(())
    });
    s.import_dataset(&files, request(&src, "demo"), progress)
        .await
        .unwrap();
    let (took, wrote) = waited.lock().unwrap().expect("a storing phase");
    assert!(wrote, "a write during the copy failed");
    assert!(
        took < std::time::Duration::from_secs(2),
        "a write waited {took:?}"
    );
    assert!(s.model_named("during-import").await.unwrap().is_some());
    // Nothing of the import's working folder is left beside the dataset.
    let left: Vec<String> = std::fs::read_dir(files.join("datasets"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["1"]);
}

#[tokio::test]
async fn imports_browses_exports_and_deletes_a_synthetic_set() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    synth(&src);
    let files = dir.path().join("data");
    let s = store(dir.path()).await;
    let seen = Arc::new(Mutex::new(Vec::<ImportProgress>::new()));
    let sink = seen.clone();
    let progress: ProgressFn = Arc::new(move |p| {
        sink.lock().unwrap().push(p);
        std::ops::ControlFlow::Continue(())
    });
    let report = s
        .import_dataset(&files, request(&src, "demo"), progress)
        .await
        .unwrap();
    assert_eq!(report.images, 2 * 26);
    assert_eq!(
        report.qa,
        2 * report.images,
        "qa.jsonl beside the images is picked up"
    );
    assert_eq!(seen.lock().unwrap().last().unwrap().phase, "done");

    let stats = s.dataset_stats("demo").await.unwrap();
    let cell = |c: &str, sp: &str, l: &str| {
        stats
            .counts
            .iter()
            .find(|r| r.category == c && r.split == sp && r.label == l)
            .map(|r| r.images)
            .unwrap_or(0)
    };
    assert_eq!(cell("pushpins", "train", "good"), 3);
    assert_eq!(cell("screw_bag", "test", "logical"), 10);
    assert_eq!(cell("screw_bag", "validation", "good"), 1);
    assert_eq!(
        stats.qa_by_source,
        [
            ("generated_verified".to_string(), 52),
            ("manual".to_string(), 52)
        ]
    );

    let filter = ImageFilter {
        category: "pushpins".into(),
        label: "structural".into(),
        ..Default::default()
    };
    let page = s.images_page("demo", &filter, 2, 4).await.unwrap();
    assert_eq!((page.total, page.images.len()), (10, 4));
    // A hostile page number used to overflow `(page - 1) * per_page` (a panic in debug builds).
    let far = s.images_page("demo", &filter, i64::MAX, 200).await.unwrap();
    assert_eq!((far.total, far.images.len()), (10, 0));
    assert!(page
        .images
        .iter()
        .all(|i| i.category == "pushpins" && i.label == "structural"));
    let by_source = ImageFilter {
        qa_source: "manual".into(),
        ..Default::default()
    };
    assert_eq!(
        s.images_page("demo", &by_source, 1, 100)
            .await
            .unwrap()
            .total,
        52
    );

    let id = page.images[0].id;
    let detail = s.image_detail(id).await.unwrap();
    assert!(detail.has_mask && detail.qa.len() == 2 && detail.width == 64);
    for which in [ImageFile::Original, ImageFile::Mask, ImageFile::Thumbnail] {
        let p = s.image_file(&files, id, which).await.unwrap().unwrap();
        assert!(p.is_file(), "{which:?}: {}", p.display());
    }
    let good = s
        .images_page(
            "demo",
            &ImageFilter {
                label: "good".into(),
                ..Default::default()
            },
            1,
            1,
        )
        .await
        .unwrap();
    assert!(s
        .image_file(&files, good.images[0].id, ImageFile::Mask)
        .await
        .unwrap()
        .is_none());

    // Export equals the imported file, record for record.
    let mut exported = s.export_qa("demo").await.unwrap();
    let mut original = parse_jsonl(
        "qa",
        &std::fs::read_to_string(src.join("qa.jsonl")).unwrap(),
        None,
    )
    .unwrap();
    let key = |r: &anomaly::dataset::qa::QaRecord| {
        (r.image.clone(), r.source.as_str(), r.question.clone())
    };
    exported.sort_by_key(key);
    original.sort_by_key(key);
    assert_eq!(to_jsonl(&exported), to_jsonl(&original));

    let again = s
        .import_dataset(&files, request(&src, "demo"), quiet())
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::DatasetExists(_)), "{again}");

    s.delete_dataset(&files, "demo", false).await.unwrap();
    assert_untouched(&s, &files).await;
}

/// Deleting a dataset used to erase every evaluation's predictions on it through the cascade,
/// silently.
#[tokio::test]
async fn a_dataset_with_predictions_is_deleted_only_when_asked_with_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    synth(&src);
    let files = dir.path().join("data");
    let s = store(dir.path()).await;
    s.import_dataset(&files, request(&src, "demo"), quiet())
        .await
        .unwrap();
    let run = s
        .create_job(crate::JobKind::Eval, "{}", crate::JobOwner::System)
        .await
        .unwrap();
    let (image,): (i64,) = sql::query_as("SELECT MIN(id) FROM images")
        .fetch_one(s.pool())
        .await
        .unwrap();
    let p = crate::evaluations::NewPrediction {
        image_id: image,
        prompt: "plain",
        template_id: None,
        verdict: "normal",
        explanation: "fine",
        raw: "Normal. fine",
        prompt_tokens: 1,
        new_tokens: 1,
        latency_ms: 1,
        served: None,
    };
    s.save_prediction(run, &p).await.unwrap();
    let err = s.delete_dataset(&files, "demo", false).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::DatasetInUse { runs, .. } if runs == &[run]),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("run(s) {run}")), "{err}");
    assert_eq!(s.predictions(run).await.unwrap().len(), 1, "nothing lost");
    assert!(s.dataset("demo").await.is_ok());
    s.delete_dataset(&files, "demo", true).await.unwrap();
    assert_untouched(&s, &files).await;
    assert!(s.job(run).await.is_err(), "the run went with it, as asked");
}

#[tokio::test]
async fn splits_are_stored_deterministic_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    synth(&src);
    let s = store(dir.path()).await;
    s.import_dataset(&dir.path().join("data"), request(&src, "demo"), quiet())
        .await
        .unwrap();
    let a = s.create_split("demo", 42, 0.1).await.unwrap();
    // 2 categories × (10 logical + 10 structural) anomalies, 10% of each stratum.
    assert_eq!(a.train_anomalies, 4);
    assert_eq!(a.train_images, 2 * 3 + 4);
    assert_eq!(a.test_images, 2 * (2 + 20) - 4);
    let b = s.create_split("demo", 42, 0.1).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(s.dataset_stats("demo").await.unwrap().splits.len(), 1);
    let c = s.create_split("demo", 43, 0.1).await.unwrap();
    assert_ne!(a.key, c.key);
    assert!(s.create_split("demo", 1, 2.0).await.is_err());
    assert!(matches!(
        s.create_split("nope", 1, 0.1).await,
        Err(StoreError::NoSuchDataset(_))
    ));
}

fn png(path: &Path, w: u32, h: u32, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 ^ seed, y as u8, seed]))
        .save(path)
        .unwrap();
}

fn mask(path: &Path, w: u32, h: u32, at: (u32, u32)) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut m = image::GrayImage::new(w, h);
    m.put_pixel(at.0, at.1, image::Luma([255]));
    m.save(path).unwrap();
}

/// A small real MVTec-LOCO-layout tree with two masks on one anomaly.
fn loco_tree(root: &Path) {
    let c = root.join("juice_bottle");
    png(&c.join("train/good/000.png"), 16, 12, 1);
    png(&c.join("train/good/001.png"), 16, 12, 2);
    png(&c.join("test/good/000.png"), 16, 12, 3);
    png(&c.join("test/logical_anomalies/000.png"), 16, 12, 4);
    png(&c.join("test/structural_anomalies/000.png"), 16, 12, 5);
    mask(
        &c.join("ground_truth/logical_anomalies/000/000.png"),
        16,
        12,
        (1, 1),
    );
    mask(
        &c.join("ground_truth/logical_anomalies/000/001.png"),
        16,
        12,
        (5, 5),
    );
    mask(
        &c.join("ground_truth/structural_anomalies/000/000.png"),
        16,
        12,
        (2, 3),
    );
}

#[tokio::test]
async fn loco_tree_with_several_masks() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("loco");
    loco_tree(&src);
    let files = dir.path().join("data");
    let s = store(dir.path()).await;
    let report = s
        .import_dataset(&files, request(&src, "loco"), quiet())
        .await
        .unwrap();
    assert_eq!((report.images, report.qa), (5, 0));
    let page = s
        .images_page(
            "loco",
            &ImageFilter {
                label: "logical".into(),
                ..Default::default()
            },
            1,
            10,
        )
        .await
        .unwrap();
    let path = s
        .image_file(&files, page.images[0].id, ImageFile::Mask)
        .await
        .unwrap()
        .unwrap();
    let combined = image::open(path).unwrap().to_luma8();
    assert_eq!(
        combined.pixels().filter(|p| p.0[0] == 255).count(),
        2,
        "both masks are combined"
    );
}

#[tokio::test]
async fn bad_inputs_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("data");
    let s = store(dir.path()).await;

    // A truncated PNG.
    let src = dir.path().join("truncated");
    loco_tree(&src);
    let victim = src.join("juice_bottle/test/good/000.png");
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let err = s
        .import_dataset(&files, request(&src, "x"), quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("test/good/000.png") && err.contains("not a readable image"),
        "{err}"
    );
    assert_untouched(&s, &files).await;

    // A mask of the wrong size.
    let src = dir.path().join("masksize");
    loco_tree(&src);
    mask(
        &src.join("juice_bottle/ground_truth/structural_anomalies/000/000.png"),
        8,
        8,
        (1, 1),
    );
    let err = s
        .import_dataset(&files, request(&src, "x"), quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mask is (8, 8)") && err.contains("(16, 12)"),
        "{err}"
    );
    assert_untouched(&s, &files).await;

    // A duplicate image.
    let src = dir.path().join("dup");
    loco_tree(&src);
    std::fs::copy(
        src.join("juice_bottle/train/good/000.png"),
        src.join("juice_bottle/train/good/002.png"),
    )
    .unwrap();
    let err = s
        .import_dataset(&files, request(&src, "x"), quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("duplicate"), "{err}");
    assert_untouched(&s, &files).await;

    // QA lines naming unknown images.
    let src = dir.path().join("qa");
    loco_tree(&src);
    std::fs::write(
        src.join("qa.jsonl"),
        "{\"image\":\"juice_bottle/test/good/000.png\",\"question\":\"q\",\"answer\":\"a\",\"source\":\"manual\"}\n\
         {\"image\":\"juice_bottle/test/good/999.png\",\"question\":\"q\",\"answer\":\"a\",\"source\":\"manual\"}\n",
    )
    .unwrap();
    let err = s
        .import_dataset(&files, request(&src, "x"), quiet())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 2") && err.contains("999.png"), "{err}");
    assert_untouched(&s, &files).await;

    // Missing folders and unknown categories.
    let err = s
        .import_dataset(&files, request(&dir.path().join("none"), "x"), quiet())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing folder"), "{err}");
    let src = dir.path().join("cats");
    loco_tree(&src);
    std::fs::create_dir_all(src.join("teapot/train/good")).unwrap();
    let err = s
        .import_dataset(&files, request(&src, "x"), quiet())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("unknown category \"teapot\""),
        "{err}"
    );
    assert_untouched(&s, &files).await;

    // A good import afterwards still works, and a later failure does not touch it.
    s.import_dataset(&files, request(&dir.path().join("qa"), "fine"), quiet())
        .await
        .unwrap_err();
    let ok = dir.path().join("ok");
    loco_tree(&ok);
    s.import_dataset(&files, request(&ok, "fine"), quiet())
        .await
        .unwrap();
    s.import_dataset(
        &files,
        request(&dir.path().join("truncated"), "other"),
        quiet(),
    )
    .await
    .unwrap_err();
    assert_eq!(s.datasets().await.unwrap().len(), 1);
    assert_eq!(
        s.dataset_stats("fine").await.unwrap().dataset.image_count,
        5
    );
}
