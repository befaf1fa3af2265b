//! The safetensors format: an 8-byte little-endian header length, a JSON header naming each
//! tensor's dtype, shape and byte range, then the data. The file is memory-mapped and its header
//! read by the `safetensors` crate; each tensor is converted to f32 straight from the mapped
//! bytes, and those pages are handed back to the page cache once converted, so loading a
//! checkpoint holds little more than the model itself.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use half::{bf16, f16};
use memmap2::{Mmap, UncheckedAdvice};
use safetensors::tensor::{Metadata, SafeTensorError, TensorInfo};
use safetensors::Dtype;
use serde::Deserialize;

use super::{transpose_with, HostTensor, TensorSource, WeightError};

/// One open safetensors file.
pub struct SafeTensors {
    path: PathBuf,
    map: Mmap,
    /// Where the data section starts in the file.
    data_start: usize,
    metadata: Metadata,
    names: Vec<String>,
}

impl SafeTensors {
    /// Opens a file and validates its header against the file size.
    pub fn open(path: &Path) -> Result<Self, WeightError> {
        let file = File::open(path).map_err(|e| WeightError::io(path, e))?;
        // SAFETY: the map is read-only and private to this process; checkpoints are not
        // rewritten while a model loads from them (a file truncated underneath would fault,
        // as with any reader of a changing file).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| WeightError::io(path, e))?;
        let (header_len, metadata) =
            safetensors::SafeTensors::read_metadata(&map).map_err(|e| WeightError::Format {
                path: path.to_path_buf(),
                reason: describe(&e, map.len()),
            })?;
        let mut names: Vec<String> = metadata.tensors().into_keys().collect();
        names.sort();
        Ok(SafeTensors {
            path: path.to_path_buf(),
            map,
            data_start: 8 + header_len,
            metadata,
            names,
        })
    }

    /// A tensor's header entry and its stored bytes (None when absent).
    fn raw(&self, name: &str) -> Option<(&TensorInfo, &[u8])> {
        let info = self.metadata.info(name)?;
        let (start, end) = info.data_offsets;
        // In bounds: the crate checked that the offsets tile the data section exactly.
        let bytes = &self.map[self.data_start + start..self.data_start + end];
        Some((info, bytes))
    }

    /// Gives the pages of a converted tensor back: they were only read, and the file still holds
    /// them, so later reads (there are none while loading) would fault them in again.
    fn release(&self, info: &TensorInfo) {
        let (start, end) = info.data_offsets;
        if cfg!(unix) && end > start {
            // SAFETY: the map is a read-only file mapping and no slice of this range is alive
            // (the caller's copy is done); MADV_DONTNEED only drops the resident pages.
            let _ = unsafe {
                self.map.unchecked_advise_range(
                    UncheckedAdvice::DontNeed,
                    self.data_start + start,
                    end - start,
                )
            };
        }
    }

    /// The stored dtype of a tensor ("F32", "BF16", ...).
    pub fn dtype(&self, name: &str) -> Option<String> {
        self.metadata.info(name).map(|i| i.dtype.to_string())
    }
}

/// The crate's header errors in the words our users have seen: which part does not fit.
fn describe(e: &SafeTensorError, size: usize) -> String {
    match e {
        SafeTensorError::HeaderTooSmall => "shorter than its 8-byte header length".into(),
        SafeTensorError::HeaderTooLarge | SafeTensorError::InvalidHeaderLength => {
            format!("header length does not fit a file of {size} bytes")
        }
        SafeTensorError::InvalidHeader(_) | SafeTensorError::InvalidHeaderDeserialization(_) => {
            format!("header is not JSON: {e}")
        }
        SafeTensorError::InvalidOffset(name) => {
            format!("tensor {name:?} has a byte range that does not match its shape or the file")
        }
        SafeTensorError::TensorInvalidInfo
        | SafeTensorError::MetadataIncompleteBuffer
        | SafeTensorError::ValidationOverflow => {
            format!("a tensor's byte range does not match its shape or the file ({e})")
        }
        other => other.to_string(),
    }
}

impl TensorSource for SafeTensors {
    fn names(&self) -> Vec<String> {
        self.names.clone()
    }

    fn read(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        let Some((info, bytes)) = self.raw(name) else {
            return Ok(None);
        };
        let data: Vec<f32> = match info.dtype {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            Dtype::I64 => bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect(),
            other => {
                return Err(WeightError::Dtype {
                    path: self.path.clone(),
                    name: name.into(),
                    dtype: other.to_string(),
                })
            }
        };
        let shape = info.shape.clone();
        self.release(info);
        Ok(Some(HostTensor { shape, data }))
    }

    /// Converts a matrix straight from the mapped bytes into the transposed order: the largest
    /// matrix of a model (its embedding, as the tied head) is never in memory twice.
    fn read_transposed(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        let Some((info, bytes)) = self.raw(name) else {
            return Ok(None);
        };
        let [rows, cols] = info.shape[..] else {
            return Err(WeightError::Shape {
                name: name.into(),
                got: info.shape.clone(),
                expected: vec![0, 0],
            });
        };
        let at = |i: usize, width: usize| &bytes[i * width..(i + 1) * width];
        let data = match info.dtype {
            Dtype::F32 => transpose_with(rows, cols, |i| {
                let c = at(i, 4);
                f32::from_le_bytes([c[0], c[1], c[2], c[3]])
            }),
            Dtype::F16 => transpose_with(rows, cols, |i| {
                let c = at(i, 2);
                f16::from_le_bytes([c[0], c[1]]).to_f32()
            }),
            Dtype::BF16 => transpose_with(rows, cols, |i| {
                let c = at(i, 2);
                bf16::from_le_bytes([c[0], c[1]]).to_f32()
            }),
            _ => return Ok(self.read(name)?.map(HostTensor::transposed)),
        };
        self.release(info);
        Ok(Some(HostTensor {
            shape: vec![cols, rows],
            data,
        }))
    }
}

/// An integer tensor: shape and values.
pub type I64Tensor = (Vec<usize>, Vec<i64>);

/// Reads an I64 tensor exactly (token ids), not through f32.
pub fn read_i64(st: &mut SafeTensors, name: &str) -> Result<Option<I64Tensor>, WeightError> {
    let Some((info, bytes)) = st.raw(name) else {
        return Ok(None);
    };
    if info.dtype != Dtype::I64 {
        return Err(WeightError::Dtype {
            path: st.path.clone(),
            name: name.into(),
            dtype: info.dtype.to_string(),
        });
    }
    let data = bytes
        .chunks_exact(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
        .collect();
    Ok(Some((info.shape.clone(), data)))
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
            for name in &st.names {
                index.insert(name.clone(), i);
            }
            shards.push(st);
        }
        Ok(ShardedSafeTensors { shards, index })
    }

    /// The stored dtype of a tensor.
    pub fn dtype(&self, name: &str) -> Option<String> {
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

    fn read_transposed(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        match self.index.get(name) {
            Some(&i) => self.shards[i].read_transposed(name),
            None => Ok(None),
        }
    }
}

/// Writes named f32 tensors (the common case of [`write`]).
pub fn write_named<'a, K: AsRef<str> + 'a>(
    path: &Path,
    tensors: impl IntoIterator<Item = (&'a K, &'a HostTensor)>,
) -> Result<(), WeightError> {
    let list: Vec<(&str, &[usize], &[f32])> = tensors
        .into_iter()
        .map(|(k, t)| (k.as_ref(), t.shape.as_slice(), t.data.as_slice()))
        .collect();
    write(path, &list, &[])
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
    fn a_transposed_read_equals_a_read_then_a_transpose() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.safetensors");
        let (rows, cols) = (37, 70);
        let values: Vec<f32> = (0..rows * cols).map(|i| i as f32 * 0.5).collect();
        write(
            &p,
            &[("w", &[rows, cols], &values), ("v", &[3], &[1.0, 2.0, 3.0])],
            &[],
        )
        .unwrap();
        let mut st = SafeTensors::open(&p).unwrap();
        let t = st.read_transposed("w").unwrap().unwrap();
        assert_eq!(t, st.read("w").unwrap().unwrap().transposed());
        assert_eq!(t.shape, [cols, rows]);
        assert!(st.read_transposed("none").unwrap().is_none());
        assert!(matches!(
            st.read_transposed("v"),
            Err(WeightError::Shape { .. })
        ));
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
