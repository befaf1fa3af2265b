//! The readers under test open files (GGUF is read with seeks, safetensors is memory-mapped),
//! so each input is written to one scratch file per process: in `VLM_FUZZ_SCRATCH` (the
//! folder scripts/fuzz.sh makes and removes), else in /dev/shm or the temporary folder.

use std::path::PathBuf;

/// Writes `data` to this process's scratch file for `ext` and returns its path.
pub fn write(ext: &str, data: &[u8]) -> PathBuf {
    let dir = match std::env::var_os("VLM_FUZZ_SCRATCH") {
        Some(dir) => PathBuf::from(dir),
        None if std::path::Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        None => std::env::temp_dir(),
    };
    let path = dir.join(format!("vlm-fuzz-{}.{ext}", std::process::id()));
    std::fs::write(&path, data).expect("the scratch file is writable");
    path
}
