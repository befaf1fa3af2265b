//! Running a step of CPU work on one of rayon's threads.
//!
//! Burn's CPU backend and our quantised products split their loops with rayon. Called from a
//! thread outside rayon's pool (the main thread, tokio's blocking threads), every such loop
//! hands its work to the pool, wakes its threads and sleeps until they are done: a futex wake
//! and park for each of the hundreds of operations in one decoded token, measured at 22 % of
//! decode. Called from a pool thread, the caller does its share and the idle threads steal the
//! rest. So each step (a token, a forward pass) is sent to the pool once, and its operations
//! run there.

use std::any::TypeId;

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;

use crate::device::Cpu;

/// Runs `step` on a rayon thread when `B` is the CPU backend (plain or with autodiff); on a
/// GPU backend, where rayon does no work, it runs where it is called.
pub fn on_cpu_workers<B: Backend, R: Send>(step: impl FnOnce() -> R + Send) -> R {
    if is_cpu::<B>() && rayon::current_thread_index().is_none() {
        rayon::scope(|_| step())
    } else {
        step()
    }
}

/// Whether `B` computes on the CPU.
pub fn is_cpu<B: Backend>() -> bool {
    let b = TypeId::of::<B>();
    b == TypeId::of::<Cpu>() || b == TypeId::of::<Autodiff<Cpu>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_steps_run_on_a_pool_thread() {
        assert!(rayon::current_thread_index().is_none());
        let index = on_cpu_workers::<Cpu, _>(rayon::current_thread_index);
        assert!(index.is_some(), "the step ran outside rayon's pool");
        assert!(is_cpu::<Autodiff<Cpu>>());
    }
}
