//! GGUF (llama.cpp's format, version 2 and 3): header, metadata, tensor infos, and the data,
//! dequantized to f32 exactly as llama.cpp does (F32, F16, BF16, Q8_0, Q4_0, Q4_1).
//!
//! [`GgufLlama`] presents a LLaMA GGUF under transformers' tensor names, undoing the Q/K row
//! permutation llama.cpp's converter applies, so the same loader builds the model.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use half::{bf16, f16};

use super::{HostTensor, TensorSource, WeightError};
use crate::llama::LlamaConfig;
use crate::quant::{self, QuantFormat, QuantMatrix};

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F64(v) => Some(v),
            Value::U64(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One tensor's description.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    /// Shape in row-major (PyTorch) order: GGUF's `ne` reversed.
    pub shape: Vec<usize>,
    pub kind: u32,
    /// Byte offset from the start of the data section.
    pub offset: u64,
}

/// An open GGUF file: metadata in memory, tensor data read on demand.
pub struct Gguf {
    path: PathBuf,
    file: File,
    data_start: u64,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: BTreeMap<String, TensorInfo>,
}

const GGML_F32: u32 = 0;
const GGML_F16: u32 = 1;
const GGML_Q4_0: u32 = 2;
const GGML_Q4_1: u32 = 3;
const GGML_Q8_0: u32 = 8;
const GGML_BF16: u32 = 30;

/// (elements per block, bytes per block) of a tensor type, None when unsupported.
fn block(kind: u32) -> Option<(usize, usize)> {
    match kind {
        GGML_F32 => Some((1, 4)),
        GGML_F16 | GGML_BF16 => Some((1, 2)),
        GGML_Q4_0 => Some((32, 18)),
        GGML_Q4_1 => Some((32, 20)),
        GGML_Q8_0 => Some((32, 34)),
        _ => None,
    }
}

/// Where a tensor's data ends in the file; None when its type is unsupported, its element
/// count is not whole blocks, or its shape or offset overflow (a corrupt file, not a big one).
fn data_end(t: &TensorInfo, data_start: u64) -> Option<u64> {
    let (per, bytes) = block(t.kind)?;
    let n = t
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| n.is_multiple_of(per))?;
    let len = u64::try_from((n / per).checked_mul(bytes)?).ok()?;
    data_start.checked_add(t.offset)?.checked_add(len)
}

/// Most items reserved up front for a metadata array (a vocabulary is tens of thousands).
const MAX_ARRAY_RESERVE: usize = 1 << 16;

fn type_name(kind: u32) -> String {
    let known = [
        (0, "F32"),
        (1, "F16"),
        (2, "Q4_0"),
        (3, "Q4_1"),
        (6, "Q5_0"),
        (7, "Q5_1"),
        (8, "Q8_0"),
        (10, "Q2_K"),
        (11, "Q3_K"),
        (12, "Q4_K"),
        (13, "Q5_K"),
        (14, "Q6_K"),
        (30, "BF16"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("type {kind}"))
}

struct Cursor<R: Read> {
    r: R,
    path: PathBuf,
}

impl<R: Read> Cursor<R> {
    fn err(&self, reason: impl Into<String>) -> WeightError {
        WeightError::Gguf {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }
    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], WeightError> {
        let mut b = [0u8; N];
        self.r
            .read_exact(&mut b)
            .map_err(|_| self.err("the file ends inside its header"))?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<u32, WeightError> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }
    fn u64(&mut self) -> Result<u64, WeightError> {
        Ok(u64::from_le_bytes(self.bytes()?))
    }
    fn string(&mut self) -> Result<String, WeightError> {
        let n = self.u64()?;
        if n > 1 << 24 {
            return Err(self.err(format!("a string of {n} bytes is implausible")));
        }
        // Only the bytes the file holds are allocated, not the length it claims.
        let mut b = Vec::new();
        match (&mut self.r).take(n).read_to_end(&mut b) {
            Ok(got) if got as u64 == n => {}
            _ => return Err(self.err("the file ends inside a string")),
        }
        String::from_utf8(b).map_err(|_| self.err("a string is not UTF-8"))
    }
    fn value(&mut self, kind: u32, depth: usize) -> Result<Value, WeightError> {
        Ok(match kind {
            0 => Value::U64(self.bytes::<1>()?[0] as u64),
            1 => Value::I64(self.bytes::<1>()?[0] as i8 as i64),
            2 => Value::U64(u16::from_le_bytes(self.bytes()?) as u64),
            3 => Value::I64(i16::from_le_bytes(self.bytes()?) as i64),
            4 => Value::U64(self.u32()? as u64),
            5 => Value::I64(i32::from_le_bytes(self.bytes()?) as i64),
            6 => Value::F64(f32::from_le_bytes(self.bytes()?) as f64),
            7 => Value::Bool(self.bytes::<1>()?[0] != 0),
            8 => Value::Str(self.string()?),
            9 if depth == 0 => {
                let item = self.u32()?;
                let n = self.u64()?;
                if n > 1 << 26 {
                    return Err(self.err(format!("an array of {n} items is implausible")));
                }
                // The count is the file's word: reserve a little, grow with what is read.
                let mut v = Vec::with_capacity((n as usize).min(MAX_ARRAY_RESERVE));
                for _ in 0..n {
                    v.push(self.value(item, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.bytes()?)),
            12 => Value::F64(f64::from_le_bytes(self.bytes()?)),
            other => return Err(self.err(format!("unknown metadata value type {other}"))),
        })
    }
}

impl Gguf {
    /// Reads the header, metadata and tensor table, checking every tensor fits in the file.
    pub fn open(path: &Path) -> Result<Self, WeightError> {
        let file = File::open(path).map_err(|e| WeightError::io(path, e))?;
        let size = file.metadata().map_err(|e| WeightError::io(path, e))?.len();
        let mut c = Cursor {
            r: BufReader::new(file),
            path: path.to_path_buf(),
        };
        if &c.bytes::<4>()? != b"GGUF" {
            return Err(c.err("not a GGUF file (bad magic)"));
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return Err(c.err(format!("GGUF version {version} is not supported (2 or 3)")));
        }
        let n_tensors = c.u64()?;
        let n_kv = c.u64()?;
        if n_tensors > 1 << 20 || n_kv > 1 << 20 {
            return Err(c.err("implausible tensor or metadata counts"));
        }
        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = c.string()?;
            let kind = c.u32()?;
            let v = c.value(kind, 0)?;
            metadata.insert(key, v);
        }
        let mut tensors = BTreeMap::new();
        for _ in 0..n_tensors {
            let name = c.string()?;
            let n_dims = c.u32()?;
            if n_dims > 4 {
                return Err(c.err(format!("tensor {name:?} has {n_dims} dimensions")));
            }
            let mut ne = Vec::new();
            for _ in 0..n_dims {
                ne.push(c.u64()? as usize);
            }
            let kind = c.u32()?;
            let offset = c.u64()?;
            ne.reverse();
            tensors.insert(
                name,
                TensorInfo {
                    shape: ne,
                    kind,
                    offset,
                },
            );
        }
        let alignment = metadata
            .get("general.alignment")
            .and_then(Value::as_u64)
            .unwrap_or(32)
            .max(1);
        // The buffered reader's logical position, not the file's (it reads ahead).
        let pos =
            c.r.stream_position()
                .map_err(|e| WeightError::io(path, e))?;
        let file = c.r.into_inner();
        let data_start = pos.div_ceil(alignment) * alignment;
        for (name, t) in &tensors {
            // Unsupported types are refused when read; their size is not known here.
            if block(t.kind).is_some() && data_end(t, data_start).is_none_or(|end| end > size) {
                return Err(WeightError::Gguf {
                    path: path.to_path_buf(),
                    reason: format!("tensor {name:?} does not fit in the file (truncated?)"),
                });
            }
        }
        Ok(Gguf {
            path: path.to_path_buf(),
            file,
            data_start,
            metadata,
            tensors,
        })
    }

    /// Reads and dequantizes one tensor by its GGUF name.
    pub fn read_raw(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        let Some(info) = self.tensors.get(name).cloned() else {
            return Ok(None);
        };
        let (per, bytes) = block(info.kind).ok_or_else(|| WeightError::Dtype {
            path: self.path.clone(),
            name: name.into(),
            dtype: format!(
                "{} (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)",
                type_name(info.kind)
            ),
        })?;
        let n: usize = info.shape.iter().product();
        let raw = self.read_bytes(name, &info, n / per * bytes)?;
        Ok(Some(HostTensor {
            shape: info.shape,
            data: dequantize(info.kind, &raw, n),
        }))
    }

    fn read_bytes(
        &mut self,
        name: &str,
        info: &TensorInfo,
        len: usize,
    ) -> Result<Vec<u8>, WeightError> {
        let mut raw = vec![0u8; len];
        self.file
            .seek(SeekFrom::Start(self.data_start + info.offset))
            .and_then(|_| self.file.read_exact(&mut raw))
            .map_err(|e| WeightError::io(&self.path, format!("reading {name}: {e}")))?;
        Ok(raw)
    }

    /// One matrix by its GGUF name as its quantised blocks, without dequantising; None when
    /// absent or not a Q8_0/Q4_0/Q4_1 matrix (such a tensor is only ever used in f32).
    pub fn read_quant(&mut self, name: &str) -> Result<Option<QuantMatrix>, WeightError> {
        let Some(info) = self.tensors.get(name).cloned() else {
            return Ok(None);
        };
        let format = match info.kind {
            GGML_Q8_0 => QuantFormat::Q8_0,
            GGML_Q4_0 => QuantFormat::Q4_0,
            GGML_Q4_1 => QuantFormat::Q4_1,
            _ => return Ok(None),
        };
        let [rows, cols] = info.shape[..] else {
            return Ok(None);
        };
        if !cols.is_multiple_of(quant::BLOCK) {
            return Ok(None);
        }
        let len = rows * cols / quant::BLOCK * format.gguf_block_bytes();
        let raw = self.read_bytes(name, &info, len)?;
        QuantMatrix::from_gguf(format, rows, cols, &raw)
            .map(Some)
            .map_err(|e| WeightError::Config {
                path: self.path.display().to_string(),
                reason: format!("{name}: {e}"),
            })
    }

    /// A metadata value.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }
}

/// Dequantizes `n` values of type `kind` (the block layouts of llama.cpp's ggml-quants.c).
fn dequantize(kind: u32, raw: &[u8], n: usize) -> Vec<f32> {
    let half = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
    let mut out = Vec::with_capacity(n);
    match kind {
        GGML_F32 => out.extend(
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        ),
        GGML_F16 => out.extend(raw.chunks_exact(2).map(half)),
        GGML_BF16 => out.extend(
            raw.chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        GGML_Q8_0 => {
            for b in raw.chunks_exact(34) {
                let d = half(&b[0..2]);
                out.extend(b[2..34].iter().map(|&q| q as i8 as f32 * d));
            }
        }
        GGML_Q4_0 => {
            for b in raw.chunks_exact(18) {
                let d = half(&b[0..2]);
                let qs = &b[2..18];
                out.extend(qs.iter().map(|&q| ((q & 0x0F) as i32 - 8) as f32 * d));
                out.extend(qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
            }
        }
        GGML_Q4_1 => {
            for b in raw.chunks_exact(20) {
                let (d, m) = (half(&b[0..2]), half(&b[2..4]));
                let qs = &b[4..20];
                out.extend(qs.iter().map(|&q| (q & 0x0F) as f32 * d + m));
                out.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
            }
        }
        _ => {}
    }
    out
}

/// Undoes llama.cpp's permutation of Q/K rows: within each head, rows were stored as
/// `[half, 2]` pairs; transformers keeps them as `[2, half]`. A tensor that is not
/// `[heads × head_dim, cols]` with an even head_dim is left as it is, for the loader's shape
/// check to report.
fn unpermute(t: &mut HostTensor, heads: usize) {
    let (rows, cols) = match t.shape[..] {
        [rows] => (rows, 1),
        [rows, cols] => (rows, cols),
        _ => return,
    };
    let Some(from) = qk_row_order(rows, heads) else {
        return;
    };
    let src = t.data.clone();
    for (orig, perm) in from.into_iter().enumerate() {
        t.data[orig * cols..(orig + 1) * cols]
            .copy_from_slice(&src[perm * cols..(perm + 1) * cols]);
    }
}

/// Where each of transformers' Q/K rows is stored in a llama.cpp GGUF: row `orig` of
/// `heads × head_dim` rows is stored row `from[orig]` (within each head, `[half, 2]` pairs
/// for transformers' `[2, half]`). None when the rows are not whole heads of even size.
fn qk_row_order(rows: usize, heads: usize) -> Option<Vec<usize>> {
    if heads == 0 || !rows.is_multiple_of(heads) || !(rows / heads).is_multiple_of(2) {
        return None;
    }
    let (hd, half) = (rows / heads, rows / heads / 2);
    let mut from = vec![0; rows];
    for h in 0..heads {
        for two in 0..2 {
            for i in 0..half {
                from[h * hd + two * half + i] = h * hd + i * 2 + two;
            }
        }
    }
    Some(from)
}

/// A LLaMA GGUF seen through transformers' tensor names.
pub struct GgufLlama {
    pub gguf: Gguf,
    pub config: LlamaConfig,
    /// transformers name → GGUF name
    names: BTreeMap<String, String>,
}

impl GgufLlama {
    /// Opens a GGUF whose `general.architecture` is llama and derives the model config.
    pub fn open(path: &Path) -> Result<Self, WeightError> {
        let gguf = Gguf::open(path)?;
        let bad = |reason: String| WeightError::Config {
            path: path.display().to_string(),
            reason,
        };
        let arch = gguf
            .get("general.architecture")
            .and_then(Value::as_str)
            .unwrap_or("");
        if arch != "llama" {
            return Err(bad(format!(
                "architecture {arch:?} is not supported (llama)"
            )));
        }
        let num = |key: &str| {
            gguf.get(&format!("llama.{key}"))
                .and_then(Value::as_u64)
                .map(|v| v as usize)
        };
        let need =
            |key: &str| num(key).ok_or_else(|| bad(format!("metadata llama.{key} is missing")));
        let hidden = need("embedding_length")?;
        let heads = need("attention.head_count")?;
        let kv = num("attention.head_count_kv").unwrap_or(heads);
        let layers = need("block_count")?;
        let vocab = num("vocab_size")
            .or_else(|| {
                gguf.get("tokenizer.ggml.tokens")
                    .and_then(Value::as_array)
                    .map(|a| a.len())
            })
            .ok_or_else(|| bad("the vocabulary size is missing".into()))?;
        let tied = !gguf.tensors.contains_key("output.weight");
        let eos = gguf
            .get("tokenizer.ggml.eos_token_id")
            .and_then(Value::as_u64)
            .map(|v| v as u32);
        let config = LlamaConfig {
            family: crate::llama::DecoderFamily::Llama,
            vocab_size: vocab,
            hidden_size: hidden,
            intermediate_size: need("feed_forward_length")?,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: kv,
            head_dim: num("rope.dimension_count").unwrap_or(hidden / heads.max(1)),
            rms_norm_eps: gguf
                .get("llama.attention.layer_norm_rms_epsilon")
                .and_then(Value::as_f64)
                .unwrap_or(1e-5),
            rope_theta: gguf
                .get("llama.rope.freq_base")
                .and_then(Value::as_f64)
                .unwrap_or(10000.0),
            max_position_embeddings: num("context_length").unwrap_or(2048),
            tie_word_embeddings: tied,
            qkv_bias: false,
            o_bias: false,
            mlp_bias: false,
            bos_token_id: gguf
                .get("tokenizer.ggml.bos_token_id")
                .and_then(Value::as_u64)
                .map(|v| v as u32),
            eos_token_ids: eos.into_iter().collect(),
        };
        let mut names = BTreeMap::new();
        for g in gguf.tensors.keys() {
            if let Some(hf) = hf_name(g) {
                names.insert(hf, g.clone());
            } else {
                names.insert(g.clone(), g.clone());
            }
        }
        Ok(GgufLlama {
            gguf,
            config,
            names,
        })
    }
}

/// transformers' name for a GGUF llama tensor.
fn hf_name(g: &str) -> Option<String> {
    let fixed = [
        ("token_embd.weight", "model.embed_tokens.weight"),
        ("output_norm.weight", "model.norm.weight"),
        ("output.weight", "lm_head.weight"),
    ];
    if let Some((_, hf)) = fixed.iter().find(|(k, _)| *k == g) {
        return Some(hf.to_string());
    }
    let rest = g.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let part = match part {
        "attn_norm.weight" => "input_layernorm.weight",
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{part}"))
}

impl GgufLlama {
    /// The heads of a Q or K matrix (whose rows llama.cpp's converter permuted), by GGUF name.
    fn qk_heads(&self, gguf_name: &str) -> Option<usize> {
        if gguf_name.ends_with("attn_q.weight") {
            Some(self.config.num_attention_heads)
        } else if gguf_name.ends_with("attn_k.weight") {
            Some(self.config.num_key_value_heads)
        } else {
            None
        }
    }

    /// A matrix by its transformers name as quantised blocks in transformers' row order
    /// (llama.cpp's Q/K permutation undone); None when it is not stored quantised.
    pub fn read_quant(&mut self, name: &str) -> Result<Option<QuantMatrix>, WeightError> {
        let Some(g) = self.names.get(name).cloned() else {
            return Ok(None);
        };
        let Some(mut m) = self.gguf.read_quant(&g)? else {
            return Ok(None);
        };
        let Some(heads) = self.qk_heads(&g) else {
            return Ok(Some(m));
        };
        let Some(from) = qk_row_order(m.dims().0, heads) else {
            return Ok(None);
        };
        m.permute_rows(&from);
        Ok(Some(m))
    }
}

impl TensorSource for GgufLlama {
    fn names(&self) -> Vec<String> {
        self.names
            .keys()
            .filter(|n| !n.starts_with("rope_freqs"))
            .cloned()
            .collect()
    }

    fn read(&mut self, name: &str) -> Result<Option<HostTensor>, WeightError> {
        let Some(g) = self.names.get(name).cloned() else {
            return Ok(None);
        };
        let mut t = match self.gguf.read_raw(&g)? {
            Some(t) => t,
            None => return Ok(None),
        };
        if let Some(heads) = self.qk_heads(&g) {
            unpermute(&mut t, heads);
        }
        Ok(Some(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q4_and_q8_blocks_decode_by_hand() {
        // Q8_0: d = 0.5, values -2, 3.
        let mut q8 = f16::from_f32(0.5).to_le_bytes().to_vec();
        q8.extend([254u8, 3].iter().chain([0u8; 30].iter()));
        let v = dequantize(GGML_Q8_0, &q8, 32);
        assert_eq!(&v[..3], &[-1.0, 1.5, 0.0]);
        // Q4_0: d = 2, low nibble 9 → (9-8)*2 = 2, high nibble 0 → -16.
        let mut q4 = f16::from_f32(2.0).to_le_bytes().to_vec();
        q4.extend([0x09u8; 16]);
        let v = dequantize(GGML_Q4_0, &q4, 32);
        assert_eq!((v[0], v[16]), (2.0, -16.0));
        // Q4_1: d = 1, m = -3: low 5 → 2, high 1 → -2.
        let mut q41 = f16::from_f32(1.0).to_le_bytes().to_vec();
        q41.extend(f16::from_f32(-3.0).to_le_bytes());
        q41.extend([0x15u8; 16]);
        let v = dequantize(GGML_Q4_1, &q41, 32);
        assert_eq!((v[0], v[16]), (2.0, -2.0));
    }

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // 2 heads × head_dim 4, 1 column; llama.cpp stores rows [h, i, two] for [h, two, i].
        let original: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let mut permuted = vec![0.0; 8];
        for h in 0..2 {
            for two in 0..2 {
                for i in 0..2 {
                    permuted[h * 4 + i * 2 + two] = original[h * 4 + two * 2 + i];
                }
            }
        }
        let mut t = HostTensor {
            shape: vec![8, 1],
            data: permuted,
        };
        unpermute(&mut t, 2);
        assert_eq!(t.data, original);
    }

    /// A version-3 GGUF header with these counts, then `body` (metadata and tensor infos).
    fn gguf_bytes(n_tensors: u64, n_kv: u64, body: &[u8]) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend(n_tensors.to_le_bytes());
        b.extend(n_kv.to_le_bytes());
        b.extend(body);
        b
    }

    fn open_bytes(bytes: &[u8]) -> Result<Gguf, WeightError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.gguf");
        std::fs::write(&path, bytes).unwrap();
        Gguf::open(&path)
    }

    #[test]
    fn a_shape_whose_size_overflows_does_not_fit() {
        // Found by fuzz/fuzz_targets/gguf_header.rs: an F32 tensor of 2^32 × 2^32 elements. The
        // product overflowed (a panic with overflow checks; in release a wrapped size of 0 that
        // passed the fit check and left a tensor whose shape its data does not match).
        let mut info = 1u64.to_le_bytes().to_vec();
        info.push(b'x');
        info.extend(2u32.to_le_bytes());
        info.extend((1u64 << 32).to_le_bytes());
        info.extend((1u64 << 32).to_le_bytes());
        info.extend(GGML_F32.to_le_bytes());
        info.extend(0u64.to_le_bytes());
        let err = open_bytes(&gguf_bytes(1, 0, &info))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not fit"), "{err}");
        // An offset at the end of u64's range overflows the same way.
        let mut info = 1u64.to_le_bytes().to_vec();
        info.push(b'x');
        info.extend(1u32.to_le_bytes());
        info.extend(1u64.to_le_bytes());
        info.extend(GGML_F32.to_le_bytes());
        info.extend(u64::MAX.to_le_bytes());
        let err = open_bytes(&gguf_bytes(1, 0, &info))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not fit"), "{err}");
    }

    #[test]
    fn counts_in_the_file_are_not_allocations() {
        // The fuzzer's 69-byte file: a string array claiming 2^26 items (the most accepted),
        // whose first string is cut off. `open` reserved 2 GiB for the items before reading
        // one (libFuzzer's malloc limit caught it); now it reserves at most MAX_ARRAY_RESERVE.
        let mut kv = 20u64.to_le_bytes().to_vec();
        kv.extend(b"llamation._co.merges");
        kv.extend(9u32.to_le_bytes());
        kv.extend(8u32.to_le_bytes());
        kv.extend((1u64 << 26).to_le_bytes());
        kv.push(0x40);
        let err = open_bytes(&gguf_bytes(7, 20, &kv))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("ends inside its header"), "{err}");
        // A string claiming 16 MiB in a file of a few bytes: an error, read as far as it goes.
        let mut kv = (1u64 << 24).to_le_bytes().to_vec();
        kv.extend(b"short");
        let err = open_bytes(&gguf_bytes(0, 1, &kv))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("ends inside a string"), "{err}");
    }

    #[test]
    fn unpermute_leaves_tensors_it_cannot_split_into_heads() {
        // Found by fuzz/fuzz_targets/gguf_header.rs: llama.attention.head_count = 0 divided by
        // zero when blk.0.attn_q.weight was read. Seen while fixing it: a Q with no dimensions
        // indexed past its shape. Such tensors are left for the loader's shape check.
        for (shape, heads) in [(vec![8, 2], 0), (vec![], 2), (vec![6, 1], 4), (vec![6], 3)] {
            let n = shape.iter().product();
            let mut t = HostTensor {
                shape: shape.clone(),
                data: (0..n).map(|v| v as f32).collect(),
            };
            let before = t.data.clone();
            unpermute(&mut t, heads);
            assert_eq!((t.shape, t.data), (shape, before));
        }
    }

    #[test]
    fn names_map_to_transformers() {
        assert_eq!(
            hf_name("blk.3.attn_q.weight").as_deref(),
            Some("model.layers.3.self_attn.q_proj.weight")
        );
        assert_eq!(
            hf_name("token_embd.weight").as_deref(),
            Some("model.embed_tokens.weight")
        );
        assert_eq!(hf_name("blk.0.unknown.weight"), None);
    }
}
