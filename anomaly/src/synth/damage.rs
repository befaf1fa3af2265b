//! Structural damage shared by every category: contamination, scratches, cracks.

use super::raster::{Canvas, Shape, P};
use crate::rng::Rng;

const DIRT: [f32; 3] = [52.0, 38.0, 28.0];
const SCRATCH: [f32; 3] = [250.0, 250.0, 244.0];
const CRACK: [f32; 3] = [25.0, 22.0, 20.0];

/// A dark, irregular blob of a few overlapping spots near `at`.
pub fn contamination(canvas: &mut Canvas, rng: &mut Rng, at: P) {
    for _ in 0..5 {
        let c = (at.0 + rng.range(-0.02, 0.02), at.1 + rng.range(-0.02, 0.02));
        canvas.fill(
            Shape::Circle {
                c,
                r: rng.range(0.008, 0.02),
            },
            DIRT,
            true,
        );
    }
}

/// A thin bright line of length `len` through `at`, at a random angle.
pub fn scratch(canvas: &mut Canvas, rng: &mut Rng, at: P, len: f32) {
    let angle = rng.range(0.0, std::f32::consts::PI);
    let (s, c) = angle.sin_cos();
    let half = len / 2.0;
    let a = (at.0 - c * half, at.1 - s * half);
    let b = (at.0 + c * half, at.1 + s * half);
    canvas.fill(
        Shape::Segment {
            a,
            b,
            width: rng.range(0.006, 0.01),
        },
        SCRATCH,
        true,
    );
}

/// A dark jagged line from `from` to `to`.
pub fn crack(canvas: &mut Canvas, rng: &mut Rng, from: P, to: P) {
    let steps = 6;
    let mut prev = from;
    for i in 1..=steps {
        let t = i as f32 / steps as f32;
        let jitter = if i == steps { 0.0 } else { 0.015 };
        let next = (
            from.0 + (to.0 - from.0) * t + rng.range(-jitter, jitter),
            from.1 + (to.1 - from.1) * t + rng.range(-jitter, jitter),
        );
        canvas.fill(
            Shape::Segment {
                a: prev,
                b: next,
                width: 0.009,
            },
            CRACK,
            true,
        );
        prev = next;
    }
}

/// Words for where a point lies in the image ("top left", "centre", ...).
pub fn location(p: P) -> &'static str {
    let col = if p.0 < 0.38 {
        0
    } else if p.0 > 0.62 {
        2
    } else {
        1
    };
    let row = if p.1 < 0.38 {
        0
    } else if p.1 > 0.62 {
        2
    } else {
        1
    };
    [
        ["top left", "top", "top right"],
        ["left", "centre", "right"],
        ["bottom left", "bottom", "bottom right"],
    ][row][col]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_marks_the_mask() {
        for f in [0, 1, 2] {
            let mut c = Canvas::new(64, [100.0; 3], 0.0);
            let mut r = Rng::new(f);
            match f {
                0 => contamination(&mut c, &mut r, (0.5, 0.5)),
                1 => scratch(&mut c, &mut r, (0.5, 0.5), 0.3),
                _ => crack(&mut c, &mut r, (0.2, 0.2), (0.8, 0.8)),
            }
            assert!(c.has_mask(), "damage {f}");
        }
    }

    #[test]
    fn locations() {
        assert_eq!(location((0.1, 0.1)), "top left");
        assert_eq!(location((0.5, 0.5)), "centre");
        assert_eq!(location((0.9, 0.5)), "right");
        assert_eq!(location((0.5, 0.95)), "bottom");
    }
}
