//! Reading the two folder layouts into a [`DatasetScan`].
//!
//! - MVTec LOCO AD: `<root>/<category>/{train/good, validation/good,
//!   test/{good,logical_anomalies,structural_anomalies}}/NNN.png`, masks in
//!   `<category>/ground_truth/<type>/NNN/*.png`.
//! - Generic: `<root>/<category>/{good,logical,structural}/*`, optionally
//!   `<category>/train/good/*` for normal training images. No masks.

use std::path::{Path, PathBuf};

use super::{DatasetError, DatasetScan, ImageEntry, SourceSplit, LOCO_CATEGORIES};
use crate::Label;

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Sorted image files directly inside `dir`.
fn images_in(dir: &Path) -> Result<Vec<PathBuf>, DatasetError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| DatasetError::io(dir, e))?.path();
        if path.is_file() && is_image(&path) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn sub_dirs(dir: &Path) -> Result<Vec<String>, DatasetError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))? {
        let entry = entry.map_err(|e| DatasetError::io(dir, e))?;
        if entry.path().is_dir() {
            out.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// The categories to read: `only` if given (each must exist), else every sub-folder.
fn categories(
    root: &Path,
    only: Option<&[String]>,
    known: Option<&[&str]>,
) -> Result<Vec<String>, DatasetError> {
    if !root.is_dir() {
        return Err(DatasetError::MissingFolder(root.to_path_buf()));
    }
    let present = sub_dirs(root)?;
    let wanted: Vec<String> = match only {
        Some(list) => list.to_vec(),
        None => present
            .iter()
            .filter(|n| !n.starts_with('.'))
            .cloned()
            .collect(),
    };
    if wanted.is_empty() {
        return Err(DatasetError::Invalid(format!(
            "{} holds no category folders",
            root.display()
        )));
    }
    for name in &wanted {
        if let Some(known) = known {
            if !known.contains(&name.as_str()) {
                return Err(DatasetError::UnknownCategory {
                    name: name.clone(),
                    root: root.to_path_buf(),
                    expected: known.join(", "),
                });
            }
        }
        if !present.contains(name) {
            return Err(DatasetError::MissingFolder(root.join(name)));
        }
    }
    Ok(wanted)
}

/// Reads an MVTec LOCO AD tree (any subset of its five categories).
pub fn scan_loco(root: &Path, only: Option<&[String]>) -> Result<DatasetScan, DatasetError> {
    let mut images = Vec::new();
    for cat in categories(root, only, Some(&LOCO_CATEGORIES))? {
        let base = root.join(&cat);
        let folders: [(SourceSplit, &str, Label, bool); 5] = [
            (SourceSplit::Train, "train/good", Label::Good, true),
            (
                SourceSplit::Validation,
                "validation/good",
                Label::Good,
                false,
            ),
            (SourceSplit::Test, "test/good", Label::Good, true),
            (
                SourceSplit::Test,
                "test/logical_anomalies",
                Label::Logical,
                true,
            ),
            (
                SourceSplit::Test,
                "test/structural_anomalies",
                Label::Structural,
                true,
            ),
        ];
        for (split, sub, label, required) in folders {
            let dir = base.join(sub);
            if !dir.is_dir() {
                if required {
                    return Err(DatasetError::MissingFolder(dir));
                }
                continue;
            }
            for path in images_in(&dir)? {
                let masks = if label.is_anomalous() {
                    let stem = path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let type_dir = sub.trim_start_matches("test/");
                    let mask_dir = base.join("ground_truth").join(type_dir).join(&stem);
                    if mask_dir.is_dir() {
                        images_in(&mask_dir)?.iter().map(|m| rel(root, m)).collect()
                    } else {
                        Vec::new()
                    }
                } else {
                    Vec::new()
                };
                images.push(ImageEntry {
                    category: cat.clone(),
                    split,
                    label,
                    rel_path: rel(root, &path),
                    masks,
                });
            }
        }
    }
    Ok(DatasetScan {
        root: root.to_path_buf(),
        layout: "loco",
        images,
    })
}

/// Reads the generic layout: `<category>/{good,logical,structural}` (+ optional `train/good`).
pub fn scan_folder(root: &Path, only: Option<&[String]>) -> Result<DatasetScan, DatasetError> {
    let mut images = Vec::new();
    for cat in categories(root, only, None)? {
        let base = root.join(&cat);
        let mut found_any = false;
        let folders = [
            (SourceSplit::Train, "train/good", Label::Good),
            (SourceSplit::Test, "good", Label::Good),
            (SourceSplit::Test, "logical", Label::Logical),
            (SourceSplit::Test, "structural", Label::Structural),
        ];
        for (split, sub, label) in folders {
            let dir = base.join(sub);
            if !dir.is_dir() {
                continue;
            }
            found_any = true;
            for path in images_in(&dir)? {
                images.push(ImageEntry {
                    category: cat.clone(),
                    split,
                    label,
                    rel_path: rel(root, &path),
                    masks: vec![],
                });
            }
        }
        if !found_any {
            return Err(DatasetError::MissingFolder(base.join("good")));
        }
    }
    Ok(DatasetScan {
        root: root.to_path_buf(),
        layout: "folder",
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    fn loco_tree(root: &Path) {
        for f in [
            "pushpins/train/good/000.png",
            "pushpins/train/good/001.png",
            "pushpins/validation/good/000.png",
            "pushpins/test/good/000.png",
            "pushpins/test/logical_anomalies/000.png",
            "pushpins/test/structural_anomalies/000.png",
            "pushpins/ground_truth/logical_anomalies/000/000.png",
            "pushpins/ground_truth/logical_anomalies/000/001.png",
            "pushpins/ground_truth/structural_anomalies/000/000.png",
        ] {
            touch(root, f);
        }
    }

    #[test]
    fn reads_loco_with_masks() {
        let dir = tempfile::tempdir().unwrap();
        loco_tree(dir.path());
        let scan = scan_loco(dir.path(), None).unwrap();
        assert_eq!(scan.images.len(), 6);
        let logical = scan
            .images
            .iter()
            .find(|i| i.label == Label::Logical)
            .unwrap();
        assert_eq!(logical.rel_path, "pushpins/test/logical_anomalies/000.png");
        assert_eq!(
            logical.masks,
            [
                "pushpins/ground_truth/logical_anomalies/000/000.png",
                "pushpins/ground_truth/logical_anomalies/000/001.png"
            ]
        );
        let counts = |s| scan.images.iter().filter(|i| i.split == s).count();
        assert_eq!(
            (
                counts(SourceSplit::Train),
                counts(SourceSplit::Validation),
                counts(SourceSplit::Test)
            ),
            (2, 1, 3)
        );
        assert!(scan
            .images
            .iter()
            .filter(|i| i.label == Label::Good)
            .all(|i| i.masks.is_empty()));
    }

    #[test]
    fn loco_errors_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            scan_loco(&dir.path().join("nope"), None),
            Err(DatasetError::MissingFolder(_))
        ));
        loco_tree(dir.path());
        touch(dir.path(), "teapots/train/good/000.png");
        let err = scan_loco(dir.path(), None).unwrap_err();
        assert!(
            err.to_string().contains("unknown category \"teapots\""),
            "{err}"
        );
        let only = vec!["pushpins".to_string()];
        assert_eq!(scan_loco(dir.path(), Some(&only)).unwrap().images.len(), 6);
        let missing = vec!["screw_bag".to_string()];
        assert!(matches!(
            scan_loco(dir.path(), Some(&missing)),
            Err(DatasetError::MissingFolder(_))
        ));
        std::fs::remove_dir_all(dir.path().join("pushpins/test/good")).unwrap();
        let err = scan_loco(dir.path(), Some(&only)).unwrap_err();
        assert!(err.to_string().contains("test/good"), "{err}");
    }

    #[test]
    fn reads_generic_folders() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "widget/good/a.jpg",
            "widget/logical/b.png",
            "widget/structural/c.PNG",
            "widget/train/good/d.png",
            "widget/notes.txt",
        ] {
            touch(dir.path(), f);
        }
        let scan = scan_folder(dir.path(), None).unwrap();
        assert_eq!(scan.images.len(), 4);
        assert_eq!(
            scan.images
                .iter()
                .filter(|i| i.split == SourceSplit::Train)
                .count(),
            1
        );
        touch(dir.path(), "empty/readme.txt");
        assert!(scan_folder(dir.path(), None).is_err());
    }
}
