//! Running a generic function on the backend a `--device` option names.

/// `on_backend!(spec, f(a, b))` calls `f::<B>(a, b, &device)` with the Burn backend and device
/// of `spec`, or fails with a clear error when this build lacks that backend.
macro_rules! on_backend {
    ($spec:expr, $f:ident($($arg:expr),*)) => {
        match $spec {
            vlm::DeviceSpec::Cpu => $f::<vlm::device::Cpu>($($arg,)* &vlm::device::cpu_device()),
            #[cfg(feature = "wgpu")]
            vlm::DeviceSpec::Wgpu(i) => {
                $f::<burn::backend::Wgpu>($($arg,)* &vlm::device::wgpu_device(i))
            }
            #[cfg(feature = "cuda")]
            vlm::DeviceSpec::Cuda(i) => {
                $f::<burn::backend::Cuda>($($arg,)* &vlm::device::cuda_device(i))
            }
            #[allow(unreachable_patterns)]
            other => anyhow::bail!("this build has no backend for {other}: rebuild with its feature"),
        }
    };
}
pub(crate) use on_backend;
