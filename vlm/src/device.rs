//! Choosing the compute backend: `cpu` (Burn's Flex), `wgpu[:N]` or `cuda[:N]`.
//!
//! The backend is a type parameter everywhere else; the binary parses a [`DeviceSpec`] once at
//! start-up and dispatches on it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The CPU backend. Flex multiplies with the `gemm` crate on all cores, and a one-row product
/// (decoding a token) does not repack the weight matrix as ndarray's `matrixmultiply` does.
pub type Cpu = burn::backend::Flex;

/// The CPU backend's device.
pub fn cpu_device() -> burn::backend::flex::FlexDevice {
    Default::default()
}

/// `wgpu` (index 0) is wgpu's default adapter: the first GPU, or a CPU Vulkan driver such as
/// lavapipe; `wgpu:N` is the N-th discrete GPU.
#[cfg(feature = "wgpu")]
pub fn wgpu_device(index: usize) -> burn::backend::wgpu::WgpuDevice {
    match index {
        0 => burn::backend::wgpu::WgpuDevice::DefaultDevice,
        n => burn::backend::wgpu::WgpuDevice::DiscreteGpu(n),
    }
}

/// The CUDA GPU with this index.
#[cfg(feature = "cuda")]
pub fn cuda_device(index: usize) -> burn::backend::cuda::CudaDevice {
    burn::backend::cuda::CudaDevice::new(index)
}
use std::str::FromStr;

/// Which backend and which device index to run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceSpec {
    /// Burn's Flex backend on the CPU threads.
    Cpu,
    /// Burn's wgpu backend (Vulkan/Metal/DX12), adapter index N.
    Wgpu(usize),
    /// Burn's CUDA backend, GPU index N.
    Cuda(usize),
}

/// A device the user asked for that this build or machine cannot give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("unknown device {0:?}: use cpu, wgpu[:N] or cuda[:N]")]
    Unknown(String),
    #[error("this build has no {0} backend: rebuild with `--features {0}`")]
    NotCompiled(&'static str),
    #[error("--half runs on GPU backends (wgpu, cuda); the CPU computes in f32")]
    HalfOnCpu,
    #[error("the {backend} device failed its self-test: {reason}")]
    SelfTest { backend: String, reason: String },
}

impl FromStr for DeviceSpec {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, index) = match lower.split_once(':') {
            Some((n, i)) => {
                let i = i
                    .parse::<usize>()
                    .map_err(|_| DeviceError::Unknown(s.to_string()))?;
                (n, i)
            }
            None => (lower.as_str(), 0),
        };
        match name {
            "cpu" if index == 0 => Ok(DeviceSpec::Cpu),
            "wgpu" | "gpu" => Ok(DeviceSpec::Wgpu(index)),
            "cuda" => Ok(DeviceSpec::Cuda(index)),
            _ => Err(DeviceError::Unknown(s.to_string())),
        }
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Wgpu(i) => write!(f, "wgpu:{i}"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// The backends compiled into this binary.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut v = vec!["cpu"];
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
    }
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    v
}

/// Makes a GPU device create its float tensors in f16 (weights uploaded in half precision,
/// activations in f16). Burn fixes a device's default dtype at its first tensor, so this must
/// come before [`probe`] or anything else touches the device.
pub fn set_half(spec: DeviceSpec) -> Result<(), DeviceError> {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    fn failed(spec: DeviceSpec, e: impl fmt::Debug) -> DeviceError {
        DeviceError::SelfTest {
            backend: spec.to_string(),
            reason: format!("cannot switch to f16: {e:?}"),
        }
    }
    match spec {
        DeviceSpec::Cpu => Err(DeviceError::HalfOnCpu),
        #[cfg(feature = "wgpu")]
        DeviceSpec::Wgpu(i) => burn::tensor::set_default_dtypes::<burn::backend::Wgpu<half::f16>>(
            &wgpu_device(i),
            burn::tensor::DType::F16,
            burn::tensor::DType::I32,
        )
        .map_err(|e| failed(spec, e)),
        #[cfg(feature = "cuda")]
        DeviceSpec::Cuda(i) => burn::tensor::set_default_dtypes::<burn::backend::Cuda<half::f16>>(
            &cuda_device(i),
            burn::tensor::DType::F16,
            burn::tensor::DType::I32,
        )
        .map_err(|e| failed(spec, e)),
        #[allow(unreachable_patterns)]
        other => Err(DeviceError::NotCompiled(match other {
            DeviceSpec::Wgpu(_) => "wgpu",
            _ => "cuda",
        })),
    }
}

/// What the device is, after a self-test proved it computes correctly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceReport {
    pub spec: DeviceSpec,
    /// A human description, e.g. "cpu (Burn Flex, 2 threads)".
    pub description: String,
}

/// Checks the device exists in this build and multiplies a small matrix on it correctly.
pub fn probe(spec: DeviceSpec) -> Result<DeviceReport, DeviceError> {
    match spec {
        DeviceSpec::Cpu => {
            self_test::<Cpu>(&cpu_device(), "cpu")?;
            let threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
            Ok(DeviceReport {
                spec,
                description: format!("cpu (Burn Flex, {threads} threads)"),
            })
        }
        DeviceSpec::Wgpu(_index) => {
            #[cfg(feature = "wgpu")]
            {
                self_test::<burn::backend::Wgpu>(&wgpu_device(_index), "wgpu")?;
                Ok(DeviceReport {
                    spec,
                    description: format!("{spec} (Burn wgpu)"),
                })
            }
            #[cfg(not(feature = "wgpu"))]
            Err(DeviceError::NotCompiled("wgpu"))
        }
        DeviceSpec::Cuda(_index) => {
            #[cfg(feature = "cuda")]
            {
                self_test::<burn::backend::Cuda>(&cuda_device(_index), "cuda")?;
                Ok(DeviceReport {
                    spec,
                    description: format!("{spec} (Burn CUDA)"),
                })
            }
            #[cfg(not(feature = "cuda"))]
            Err(DeviceError::NotCompiled("cuda"))
        }
    }
}

/// [[1,2],[3,4]] x [[5,6],[7,8]] must give [[19,22],[43,50]]. GPU backends panic when the
/// device or its driver is missing; that becomes an error here.
fn self_test<B: burn::tensor::backend::Backend>(
    device: &B::Device,
    backend: &str,
) -> Result<(), DeviceError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        multiply::<B>(device, backend)
    }))
    .unwrap_or_else(|panic| {
        let reason = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the backend panicked".into());
        Err(DeviceError::SelfTest {
            backend: backend.to_string(),
            reason,
        })
    })
}

fn multiply<B: burn::tensor::backend::Backend>(
    device: &B::Device,
    backend: &str,
) -> Result<(), DeviceError> {
    use burn::tensor::{Tensor, TensorData};
    let a = Tensor::<B, 2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [2, 2]), device);
    let b = Tensor::<B, 2>::from_data(TensorData::new(vec![5.0f32, 6.0, 7.0, 8.0], [2, 2]), device);
    let got = a
        .matmul(b)
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .map_err(|e| DeviceError::SelfTest {
            backend: backend.to_string(),
            reason: format!("{e:?}"),
        })?;
    if got != [19.0, 22.0, 43.0, 50.0] {
        return Err(DeviceError::SelfTest {
            backend: backend.to_string(),
            reason: format!("2x2 matmul gave {got:?}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_names() {
        assert_eq!("cpu".parse(), Ok(DeviceSpec::Cpu));
        assert_eq!("CUDA".parse(), Ok(DeviceSpec::Cuda(0)));
        assert_eq!("cuda:1".parse(), Ok(DeviceSpec::Cuda(1)));
        assert_eq!("wgpu:2".parse(), Ok(DeviceSpec::Wgpu(2)));
        for bad in ["", "tpu", "cuda:x", "cpu:1", "cuda:-1"] {
            assert!(bad.parse::<DeviceSpec>().is_err(), "{bad:?}");
        }
        assert_eq!(DeviceSpec::Cuda(3).to_string(), "cuda:3");
    }

    #[test]
    fn cpu_passes_its_self_test() {
        let report = probe(DeviceSpec::Cpu).unwrap();
        assert!(
            report.description.starts_with("cpu"),
            "{}",
            report.description
        );
    }

    #[test]
    fn missing_backends_are_named() {
        if !cfg!(feature = "cuda") {
            assert_eq!(
                probe(DeviceSpec::Cuda(0)),
                Err(DeviceError::NotCompiled("cuda"))
            );
        }
        assert!(compiled_backends().contains(&"cpu"));
    }
}
