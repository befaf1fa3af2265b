//! Linear warm-up then cosine decay to zero, as transformers'
//! `get_cosine_schedule_with_warmup`: optimizer step k (from 0) uses `lr × factor(k)`.

/// The learning rate of optimizer step `step` (0-based) of `total`.
pub fn learning_rate(base: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return base * step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
    base * (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
}

/// Warm-up steps for a ratio of `total` (rounded up, as transformers does).
pub fn warmup_steps(ratio: f64, total: usize) -> usize {
    (ratio * total as f64).ceil() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_then_cosine_by_hand() {
        // 2 warm-up steps of 10: 0, 0.5, then cos from 1 down.
        let lr = |k| learning_rate(1.0, k, 2, 10);
        assert_eq!(lr(0), 0.0);
        assert_eq!(lr(1), 0.5);
        assert_eq!(lr(2), 1.0);
        // Halfway through the 8 decay steps: 0.5.
        assert!((lr(6) - 0.5).abs() < 1e-12);
        assert!((lr(3) - 0.5 * (1.0 + (std::f64::consts::PI / 8.0).cos())).abs() < 1e-12);
        assert!(lr(10).abs() < 1e-12);
        // No warm-up: the first step runs at the full rate.
        assert_eq!(learning_rate(1e-4, 0, 0, 5), 1e-4);
        assert_eq!(warmup_steps(0.03, 100), 3);
        assert_eq!(warmup_steps(0.03, 10), 1);
        assert_eq!(warmup_steps(0.0, 10), 0);
    }
}
