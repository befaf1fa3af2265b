//! The archive's format (its entries and `manifest.json`), which files of a data folder a
//! backup holds, and hashing while copying.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{io_err, BackupError};
use crate::db::DATABASE_FILE;

/// The manifest's name inside an archive.
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// The database copy's name inside an archive.
pub const DATABASE_ENTRY: &str = "db.sqlite";
/// Where the data folder's files lie inside an archive.
pub const FILES_PREFIX: &str = "files/";
/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// What a backup knows of one file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the data folder, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// `manifest.json`: what the archive holds and where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// The vlm-inspect version that wrote it.
    pub version: String,
    /// The data folder it was taken from (absolute), so a restore elsewhere can point the
    /// database's paths into that folder at the new one.
    pub source: String,
    /// The newest migration applied to the copied database.
    pub migration: i64,
    /// The database copy (`db.sqlite` in the archive).
    pub database: FileEntry,
    /// Whether the archive holds the files or only lists them.
    pub with_files: bool,
    /// Every file of the data folder, sorted by path.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// Reads the manifest of a backup archive, or a `manifest.json` on its own.
    pub fn read(path: &Path) -> Result<Manifest, BackupError> {
        let bad = |reason: String| BackupError::Archive {
            archive: path.to_path_buf(),
            reason,
        };
        let mut file = File::open(path).map_err(io_err(path))?;
        let mut first = [0u8; 1];
        let n = file.read(&mut first).map_err(io_err(path))?;
        if n == 1 && first[0] == b'{' {
            let mut text = String::from("{");
            file.read_to_string(&mut text).map_err(io_err(path))?;
            return serde_json::from_str(&text).map_err(|e| bad(format!("manifest: {e}")));
        }
        let file = File::open(path).map_err(io_err(path))?;
        let mut archive = tar::Archive::new(BufReader::new(file));
        let entries = archive.entries().map_err(|e| bad(tar_failure(0, &e)))?;
        for (read, entry) in entries.enumerate() {
            let mut entry = entry.map_err(|e| bad(tar_failure(read, &e)))?;
            if entry.path().ok().as_deref() == Some(Path::new(MANIFEST_ENTRY)) {
                return parse_manifest(&mut entry).map_err(bad);
            }
        }
        Err(bad(format!("it holds no {MANIFEST_ENTRY}")))
    }
}

/// Why the entry after `read` good ones cannot be read, without the tar reader's own
/// message (which may quote the file's bytes) unless it is an I/O failure.
pub(crate) fn tar_failure(read: usize, e: &io::Error) -> String {
    match (read, e.kind()) {
        (0, io::ErrorKind::Other | io::ErrorKind::InvalidData) => "it is not a tar archive".into(),
        (_, io::ErrorKind::Other | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof) => {
            format!("it is damaged or cut short after {read} entries")
        }
        _ => e.to_string(),
    }
}

/// Parses a manifest entry of at most 256 MiB.
pub(crate) fn parse_manifest(entry: &mut impl Read) -> Result<Manifest, String> {
    let mut text = String::new();
    entry
        .take(256 << 20)
        .read_to_string(&mut text)
        .map_err(|e| format!("{MANIFEST_ENTRY}: {e}"))?;
    serde_json::from_str(&text).map_err(|e| format!("{MANIFEST_ENTRY}: {e}"))
}

/// Whether `rel` (relative to the data folder, `/`-separated) stays out of backups: the live
/// database and its journals (copied through SQLite instead), the server's and the jobs'
/// locks, and files being written (`*.part`, imports in progress).
pub fn is_excluded(rel: &str) -> bool {
    let journal = ["-wal", "-shm", "-journal"]
        .iter()
        .any(|s| rel.strip_prefix(DATABASE_FILE) == Some(s));
    rel == DATABASE_FILE
        || journal
        || rel == "server.lock"
        || rel == "locks"
        || rel.starts_with("locks/")
        || rel.starts_with("datasets/.importing-")
        || rel.split('/').any(|part| part.ends_with(".part"))
}

/// A regular file of the data folder.
#[derive(Clone, Debug)]
pub struct DataFile {
    /// Relative to the data folder, `/`-separated.
    pub rel: String,
    pub path: PathBuf,
}

/// Every regular file under `root` a backup holds, sorted by path, and what it leaves out
/// besides [`is_excluded`] (links and other special files, names that are not UTF-8).
pub fn data_files(root: &Path) -> Result<(Vec<DataFile>, Vec<String>), BackupError> {
    let relative = |p: &Path| -> Option<String> {
        let rel = p.strip_prefix(root).ok()?.to_str()?;
        Some(rel.replace(std::path::MAIN_SEPARATOR, "/"))
    };
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    let walk = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || relative(e.path()).is_none_or(|r| !is_excluded(&r)));
    for entry in walk {
        let entry = entry.map_err(|e| BackupError::Io {
            path: e.path().unwrap_or(root).to_path_buf(),
            reason: e.to_string(),
        })?;
        if entry.depth() == 0 || entry.file_type().is_dir() {
            continue;
        }
        match relative(entry.path()) {
            Some(rel) if entry.file_type().is_file() => files.push(DataFile {
                rel,
                path: entry.path().to_path_buf(),
            }),
            Some(rel) => skipped.push(format!("{rel}: not a regular file, not backed up")),
            None => skipped.push(format!(
                "{}: the name is not UTF-8, not backed up",
                entry.path().display()
            )),
        }
    }
    Ok((files, skipped))
}

/// Size and SHA-256 (hex) of a file.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut reader = Hashing::new(File::open(path)?, u64::MAX);
    io::copy(&mut reader, &mut io::sink())?;
    Ok((reader.read, reader.hex()))
}

/// Reads at most `limit` bytes of `inner`, hashing them; made by [`Hashing::exact`], it fails
/// rather than end sooner.
pub(crate) struct Hashing<R> {
    inner: R,
    limit: u64,
    read: u64,
    exact: bool,
    hasher: Sha256,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            limit,
            read: 0,
            exact: false,
            hasher: Sha256::new(),
        }
    }

    /// Exactly `size` bytes: a tar entry's header holds its size before its data.
    pub(crate) fn exact(inner: R, size: u64) -> Self {
        Self {
            exact: true,
            ..Self::new(inner, size)
        }
    }

    pub(crate) fn hex(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.limit - self.read;
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 && self.exact {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file became shorter while it was read",
            ));
        }
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// Copies `reader` (read from `source`, named in read errors) into a new file at `dest`; its
/// size and SHA-256.
pub(crate) fn write_hashed(
    mut reader: impl Read,
    source: &Path,
    dest: &Path,
) -> Result<(u64, String), BackupError> {
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(dest)
        .map_err(io_err(dest))?;
    let mut out = BufWriter::new(file);
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(source)(e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io_err(dest))?;
        size += n as u64;
    }
    out.into_inner()
        .map_err(|e| io_err(dest)(e.into_error()))?
        .sync_all()
        .map_err(io_err(dest))?;
    Ok((size, hex::encode(hasher.finalize())))
}
