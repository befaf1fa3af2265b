//! Loading weights: Hugging Face safetensors (single or sharded), with every missing or
//! unexpected tensor reported by name.

pub mod gguf;
pub mod safetensors;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

pub use safetensors::{SafeTensors, ShardedSafeTensors};

/// Everything that can go wrong reading a checkpoint, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path}: not a valid safetensors file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: not a valid GGUF file: {reason}")]
    Gguf { path: PathBuf, reason: String },
    #[error("{path}: tensor {name:?} has unsupported dtype {dtype}")]
    Dtype {
        path: PathBuf,
        name: String,
        dtype: String,
    },
    #[error("{path}: {reason}")]
    Config { path: String, reason: String },
    /// A configuration value the code cannot use, named by its field.
    #[error("{path}: {error}")]
    Setting {
        path: String,
        error: crate::FieldError,
    },
    #[error("tensor {name:?} has shape {got:?}, expected {expected:?}")]
    Shape {
        name: String,
        got: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error("missing tensors: {0}")]
    Missing(String),
    #[error("unexpected tensors (not used by the model): {0}")]
    Unexpected(String),
}

impl WeightError {
    pub(crate) fn setting(path: &str, error: crate::FieldError) -> Self {
        WeightError::Setting {
            path: path.to_string(),
            error,
        }
    }

    pub(crate) fn io(path: &Path, e: impl fmt::Display) -> Self {
        WeightError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// A dense f32 tensor read from a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl HostTensor {
    /// A backend tensor's values as f32 on the host (for writing checkpoints and adapters).
    pub fn from_tensor<B: burn::tensor::backend::Backend, const D: usize>(
        t: burn::tensor::Tensor<B, D>,
    ) -> Result<Self, WeightError> {
        let shape = t.dims().to_vec();
        let data = t
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| WeightError::Config {
                path: "tensor".into(),
                reason: format!("reading values from the device: {e:?}"),
            })?;
        Ok(HostTensor { shape, data })
    }
}

impl HostTensor {
    /// A `[rows, cols]` matrix as `[cols, rows]`, materialised: a transposed view would make
    /// every matmul copy the weight again (measured: decoding 8-25× slower on ndarray and Flex).
    pub fn transposed(self) -> HostTensor {
        let (rows, cols) = (self.shape[0], self.shape[1]);
        HostTensor {
            shape: vec![cols, rows],
            data: transpose_with(rows, cols, |i| self.data[i]),
        }
    }
}

/// The transpose of the `[rows, cols]` matrix whose element `i` (row-major) is `get(i)`. In
/// 32×32 tiles, so reads and writes both stay in cache (a 7B model has 6.5 G weights).
pub fn transpose_with(rows: usize, cols: usize, get: impl Fn(usize) -> f32) -> Vec<f32> {
    let mut data = vec![0.0f32; rows * cols];
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    data[c * rows + r] = get(r * cols + c);
                }
            }
        }
    }
    data
}

/// Where a model loader takes its tensors from. Implementations remember what was taken, so
/// [`TensorSource::finish`] can report tensors the model did not use.
pub trait TensorSource {
    /// Every tensor name in the checkpoint.
    fn names(&self) -> Vec<String>;
    /// Reads one tensor as f32 (None when absent).
    fn read(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError>;
    /// Reads a matrix transposed (`[rows, cols]` stored, `[cols, rows]` returned). Sources that
    /// can convert straight into the transposed order override this, so the largest matrix is
    /// never held twice while a model loads.
    fn read_transposed(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        Ok(self.read(name)?.map(HostTensor::transposed))
    }
}

/// Tensors already in memory, by name (a freshly initialised part of a model).
pub struct MemorySource(pub BTreeMap<String, HostTensor>);

impl TensorSource for MemorySource {
    fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    fn read(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        Ok(self.0.get(name).cloned())
    }
}

/// Wraps a source and records which names were requested, found or missing.
pub struct Tracker<'a> {
    source: &'a mut dyn TensorSource,
    used: BTreeSet<String>,
    missing: Vec<String>,
}

impl<'a> Tracker<'a> {
    pub fn new(source: &'a mut dyn TensorSource) -> Self {
        Tracker {
            source,
            used: BTreeSet::new(),
            missing: Vec::new(),
        }
    }

    /// Takes a required tensor, checking its shape. A missing tensor is recorded (the error
    /// lists all of them at the end) and a zero tensor of the right shape returned.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<HostTensor, WeightError> {
        self.used.insert(name.to_string());
        match self.source.read(name)? {
            Some(t) if t.shape == shape => Ok(t),
            Some(t) => Err(WeightError::Shape {
                name: name.into(),
                got: t.shape,
                expected: shape.to_vec(),
            }),
            None => {
                self.missing.push(name.to_string());
                Ok(HostTensor {
                    shape: shape.to_vec(),
                    data: vec![0.0; shape.iter().product()],
                })
            }
        }
    }

    /// [`Self::take`] of a `[rows, cols]` matrix, returned as `[cols, rows]`.
    pub fn take_transposed(
        &mut self,
        name: &str,
        [rows, cols]: [usize; 2],
    ) -> Result<HostTensor, WeightError> {
        self.used.insert(name.to_string());
        match self.source.read_transposed(name)? {
            Some(t) if t.shape == [cols, rows] => Ok(t),
            Some(t) => Err(WeightError::Shape {
                name: name.into(),
                got: t.shape.iter().rev().copied().collect(),
                expected: vec![rows, cols],
            }),
            None => {
                self.missing.push(name.to_string());
                Ok(HostTensor {
                    shape: vec![cols, rows],
                    data: vec![0.0; rows * cols],
                })
            }
        }
    }

    /// Counts a tensor the model does not need as used, without reading it (a tied
    /// checkpoint's stored copy of the head).
    pub fn skip(&mut self, name: &str) {
        self.used.insert(name.to_string());
    }

    /// Takes an optional tensor (None when absent).
    pub fn take_optional(
        &mut self,
        name: &str,
        shape: &[usize],
    ) -> Result<Option<HostTensor>, WeightError> {
        if self.source.names().iter().any(|n| n == name) {
            self.take(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails listing missing tensors, then tensors that were never asked for (except those
    /// `ignore` accepts, e.g. rotary caches some checkpoints store).
    pub fn finish(self, ignore: impl Fn(&str) -> bool) -> Result<(), WeightError> {
        if !self.missing.is_empty() {
            return Err(WeightError::Missing(self.missing.join(", ")));
        }
        let unexpected: Vec<String> = self
            .source
            .names()
            .into_iter()
            .filter(|n| !self.used.contains(n) && !ignore(n))
            .collect();
        if !unexpected.is_empty() {
            return Err(WeightError::Unexpected(unexpected.join(", ")));
        }
        Ok(())
    }
}
