//! Running a generic function on the backend a `--device` option names.

/// `on_backend!(spec, half, f(a, b))` calls `f::<B>(a, b, &device)` with the Burn backend and
/// device of `spec` (with `half`, the GPU backend in f16: weights and activations in half
/// precision, as transformers with `torch_dtype=float16`; `vlm::device::set_half` must have
/// run first), or fails with a clear error when this build lacks that backend. The caller's
/// crate decides which backends exist (its `wgpu` and `cuda` features, forwarded to `vlm`) and
/// needs `vlm`, `burn`, `half` and `anyhow` as dependencies.
#[macro_export]
macro_rules! on_backend {
    ($spec:expr, $half:expr, $f:ident($($arg:expr),*)) => {
        match ($spec, $half) {
            (vlm::DeviceSpec::Cpu, false) => {
                $f::<vlm::device::Cpu>($($arg,)* &vlm::device::cpu_device())
            }
            (vlm::DeviceSpec::Cpu, true) => anyhow::bail!(vlm::DeviceError::HalfOnCpu),
            #[cfg(feature = "wgpu")]
            (vlm::DeviceSpec::Wgpu(i), false) => {
                $f::<burn::backend::Wgpu>($($arg,)* &vlm::device::wgpu_device(i))
            }
            #[cfg(feature = "wgpu")]
            (vlm::DeviceSpec::Wgpu(i), true) => {
                $f::<burn::backend::Wgpu<half::f16>>($($arg,)* &vlm::device::wgpu_device(i))
            }
            #[cfg(feature = "cuda")]
            (vlm::DeviceSpec::Cuda(i), false) => {
                $f::<burn::backend::Cuda>($($arg,)* &vlm::device::cuda_device(i))
            }
            #[cfg(feature = "cuda")]
            (vlm::DeviceSpec::Cuda(i), true) => {
                $f::<burn::backend::Cuda<half::f16>>($($arg,)* &vlm::device::cuda_device(i))
            }
            #[allow(unreachable_patterns)]
            (other, _) => anyhow::bail!("this build has no backend for {other}: rebuild with its feature"),
        }
    };
}
