//! The safetensors format: an 8-byte little-endian header length, a JSON header naming each
//! tensor's dtype, shape and byte range, then the data. Tensors are read one at a time from
//! the file, so a large checkpoint is never held twice in memory.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use serde::Deserialize;

use super::{HostTensor, TensorSource, WeightError};

#[derive(Clone, Debug, Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// One open safetensors file.
pub struct SafeTensors {
    path: PathBuf,
    file: File,
    data_start: u64,
    entries: BTreeMap<String, Entry>,
}

impl SafeTensors {
    /// Opens a file and validates its header against the file size.
    pub fn open(path: &Path) -> Result<Self, WeightError> {
        let bad = |reason: String| WeightError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let mut file = File::open(path).map_err(|e| WeightError::io(path, e))?;
        let size = file.metadata().map_err(|e| WeightError::io(path, e))?.len();
        let mut len = [0u8; 8];
        file.read_exact(&mut len)
            .map_err(|_| bad("shorter than its 8-byte header length".into()))?;
        let header_len = u64::from_le_bytes(len);
        if header_len > 100 << 20 || 8 + header_len > size {
            return Err(bad(format!(
                "header length {header_len} does not fit a file of {size} bytes"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header)
            .map_err(|e| bad(e.to_string()))?;
        let raw: BTreeMap<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| bad(format!("header is not JSON: {e}")))?;
        let data_start = 8 + header_len;
        let mut entries = BTreeMap::new();
        for (name, value) in raw {
            if name == "__metadata__" {
                continue;
            }
            let entry: Entry =
                serde_json::from_value(value).map_err(|e| bad(format!("tensor {name:?}: {e}")))?;
            let [start, end] = entry.data_offsets;
            let n: usize = entry.shape.iter().product();
            let width = dtype_width(&entry.dtype).unwrap_or(0) as u64;
            if end < start
                || data_start + end > size
                || (width > 0 && end - start != n as u64 * width)
            {
                return Err(bad(format!("tensor {name:?} has byte range {start}..{end} that does not match its shape or the file")));
            }
            entries.insert(name, entry);
        }
        Ok(SafeTensors {
            path: path.to_path_buf(),
            file,
            data_start,
            entries,
        })
    }

    /// A tensor's entry and its stored bytes (None when absent).
    fn raw(&mut self, name: &str) -> Result<Option<(Entry, Vec<u8>)>, WeightError> {
        let Some(entry) = self.entries.get(name).cloned() else {
            return Ok(None);
        };
        let [start, end] = entry.data_offsets;
        let mut bytes = vec![0u8; (end - start) as usize];
        self.file
            .seek(SeekFrom::Start(self.data_start + start))
            .and_then(|_| self.file.read_exact(&mut bytes))
            .map_err(|e| WeightError::io(&self.path, format!("reading {name}: {e}")))?;
        Ok(Some((entry, bytes)))
    }

    /// The stored dtype of a tensor ("F32", "BF16", ...).
    pub fn dtype(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.dtype.as_str())
    }
}

fn dtype_width(dtype: &str) -> Option<usize> {
    match dtype {
        "F32" | "I32" => Some(4),
        "F16" | "BF16" => Some(2),
        "I64" | "F64" => Some(8),
        _ => None,
    }
}

impl TensorSource for SafeTensors {
    fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    fn read(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        let Some((entry, bytes)) = self.raw(name)? else {
            return Ok(None);
        };
        let data: Vec<f32> = match entry.dtype.as_str() {
            "F32" => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            "F16" => bytes
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            "BF16" => bytes
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            "I64" => bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            other => {
                return Err(WeightError::Dtype {
                    path: self.path.clone(),
                    name: name.into(),
                    dtype: other.into(),
                })
            }
        };
        Ok(Some(HostTensor {
            shape: entry.shape,
            data,
        }))
    }
}

/// An integer tensor: shape and values.
pub type I64Tensor = (Vec<usize>, Vec<i64>);

/// Reads an I64 tensor exactly (token ids), not through f32.
pub fn read_i64(st: &mut SafeTensors, name: &str) -> Result<Option<I64Tensor>, WeightError> {
    let Some((entry, bytes)) = st.raw(name)? else {
        return Ok(None);
    };
    if entry.dtype != "I64" {
        return Err(WeightError::Dtype {
            path: st.path.clone(),
            name: name.into(),
            dtype: entry.dtype,
        });
    }
    let data = bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    Ok(Some((entry.shape, data)))
}

/// A model folder's weights: `model.safetensors`, or shards listed by
/// `model.safetensors.index.json`.
pub struct ShardedSafeTensors {
    shards: Vec<SafeTensors>,
    /// tensor name → shard index
    index: BTreeMap<String, usize>,
}

impl ShardedSafeTensors {
    /// Opens the weights of a Hugging Face model folder.
    pub fn open_dir(dir: &Path) -> Result<Self, WeightError> {
        let single = dir.join("model.safetensors");
        let index_path = dir.join("model.safetensors.index.json");
        let files: Vec<PathBuf> = if index_path.is_file() {
            #[derive(Deserialize)]
            struct Index {
                weight_map: BTreeMap<String, String>,
            }
            let text = std::fs::read_to_string(&index_path)
                .map_err(|e| WeightError::io(&index_path, e))?;
            let index: Index = serde_json::from_str(&text).map_err(|e| WeightError::Format {
                path: index_path.clone(),
                reason: e.to_string(),
            })?;
            let mut names: Vec<String> = index.weight_map.into_values().collect();
            names.sort();
            names.dedup();
            names.into_iter().map(|n| dir.join(n)).collect()
        } else if single.is_file() {
            vec![single]
        } else {
            return Err(WeightError::io(
                dir,
                "no model.safetensors or model.safetensors.index.json",
            ));
        };
        let mut shards = Vec::new();
        let mut index = BTreeMap::new();
        for (i, f) in files.iter().enumerate() {
            let st = SafeTensors::open(f)?;
            for name in st.entries.keys() {
                index.insert(name.clone(), i);
            }
            shards.push(st);
        }
        Ok(ShardedSafeTensors { shards, index })
    }

    /// The stored dtype of a tensor.
    pub fn dtype(&self, name: &str) -> Option<&str> {
        self.index
            .get(name)
            .and_then(|&i| self.shards[i].dtype(name))
    }
}

impl TensorSource for ShardedSafeTensors {
    fn names(&self) -> Vec<String> {
        self.index.keys().cloned().collect()
    }

    fn read(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        match self.index.get(name) {
            Some(&i) => self.shards[i].read(name),
            None => Ok(None),
        }
    }
}

/// Writes f32 tensors (and i64 ones) as a safetensors file, for `forward --out` and tests.
pub fn write(
    path: &Path,
    f32s: &[(&str, &[usize], &[f32])],
    i64s: &[(&str, &[usize], &[i64])],
) -> Result<(), WeightError> {
    let mut header = serde_json::Map::new();
    let mut data: Vec<u8> = Vec::new();
    for (name, shape, values) in f32s {
        let start = data.len();
        for v in values.iter() {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(name.to_string(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}));
    }
    for (name, shape, values) in i64s {
        let start = data.len();
        for v in values.iter() {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(name.to_string(), serde_json::json!({"dtype": "I64", "shape": shape, "data_offsets": [start, data.len()]}));
    }
    let mut head = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap_or_default();
    while !head.len().is_multiple_of(8) {
        head.push(b' ');
    }
    let mut out = Vec::with_capacity(8 + head.len() + data.len());
    out.extend_from_slice(&(head.len() as u64).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(&data);
    std::fs::write(path, out).map_err(|e| WeightError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.safetensors");
        write(
            &p,
            &[("a", &[2, 2], &[1.0, 2.0, 3.0, 4.0])],
            &[("ids", &[3], &[5, -1, 7])],
        )
        .unwrap();
        let mut st = SafeTensors::open(&p).unwrap();
        assert_eq!(st.names(), ["a", "ids"]);
        assert_eq!(st.read("a").unwrap().unwrap().data, [1.0, 2.0, 3.0, 4.0]);
        assert_eq!(read_i64(&mut st, "ids").unwrap().unwrap().1, [5, -1, 7]);
        assert!(st.read("b").unwrap().is_none());

        let bytes = std::fs::read(&p).unwrap();
        let cut = dir.path().join("cut.safetensors");
        std::fs::write(&cut, &bytes[..bytes.len() - 4]).unwrap();
        let err = SafeTensors::open(&cut).err().unwrap().to_string();
        assert!(
            err.contains("cut.safetensors") && err.contains("byte range"),
            "{err}"
        );
        std::fs::write(&cut, &bytes[..5]).unwrap();
        assert!(SafeTensors::open(&cut).is_err());
        std::fs::write(&cut, [255u8; 16]).unwrap();
        assert!(SafeTensors::open(&cut)
            .err()
            .unwrap()
            .to_string()
            .contains("header length"));
    }

    #[test]
    fn half_precision_is_widened() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.safetensors");
        let bf: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
            .collect();
        let f: Vec<u8> = [0.25f32, 3.0]
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        let header = br#"{"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"h":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}"#;
        let mut out = (header.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(header);
        out.extend_from_slice(&bf);
        out.extend_from_slice(&f);
        std::fs::write(&p, out).unwrap();
        let mut st = SafeTensors::open(&p).unwrap();
        assert_eq!(st.read("b").unwrap().unwrap().data, [1.5, -2.0]);
        assert_eq!(st.read("h").unwrap().unwrap().data, [0.25, 3.0]);
    }
}
