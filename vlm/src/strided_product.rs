//! One f32 matrix product over strided operands with the `gemm` crate: the fused kernels'
//! products (attention's backward pass, the head's cross-entropy) read transposes and views
//! through their strides instead of copying them.

pub(crate) use gemm::Parallelism;

/// A matrix operand: its first element and its row and column strides (in elements).
pub(crate) type Matrix = (*const f32, isize, isize);

/// dst (m × n at row stride `dst_row`) ← [dst +] beta · lhs · rhs.
///
/// # Safety
/// `lhs` (m × k) and `rhs` (k × n) must be readable at their strides; `dst` must point to m × n
/// elements at its row stride that no other thread touches meanwhile.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn product(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_row: usize,
    accumulate: bool,
    lhs: Matrix,
    rhs: Matrix,
    beta: f32,
    parallelism: Parallelism,
) {
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        dst_row as isize,
        accumulate,
        lhs.0,
        lhs.2,
        lhs.1,
        rhs.0,
        rhs.2,
        rhs.1,
        if accumulate { 1.0 } else { 0.0 },
        beta,
        false,
        false,
        false,
        parallelism,
    );
}
