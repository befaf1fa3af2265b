//! A tiny rasterizer for the synthetic scenes: filled shapes in unit coordinates, a global
//! rotation about the centre, and a mask channel for the anomalous region.

use crate::rng::Rng;

/// A point in scene coordinates: (0,0) top-left, (1,1) bottom-right.
pub type P = (f32, f32);

/// An RGB colour in 0..=255 per channel.
pub type Rgb = [f32; 3];

/// A filled shape.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Circle {
        c: P,
        r: f32,
    },
    /// Ring between radii `inner` and `outer`.
    Ring {
        c: P,
        inner: f32,
        outer: f32,
    },
    Ellipse {
        c: P,
        rx: f32,
        ry: f32,
        angle: f32,
    },
    /// Rectangle of width `w`, height `h` centred on `c`, rotated by `angle` radians.
    Rect {
        c: P,
        w: f32,
        h: f32,
        angle: f32,
    },
    /// Thick line segment (capsule).
    Segment {
        a: P,
        b: P,
        width: f32,
    },
}

impl Shape {
    /// A rotated copy (about `pivot` by `theta`).
    fn rotated(self, pivot: P, theta: f32) -> Shape {
        let rot = |p: P| {
            let (s, c) = theta.sin_cos();
            let (dx, dy) = (p.0 - pivot.0, p.1 - pivot.1);
            (pivot.0 + dx * c - dy * s, pivot.1 + dx * s + dy * c)
        };
        match self {
            Shape::Circle { c, r } => Shape::Circle { c: rot(c), r },
            Shape::Ring { c, inner, outer } => Shape::Ring {
                c: rot(c),
                inner,
                outer,
            },
            Shape::Ellipse { c, rx, ry, angle } => Shape::Ellipse {
                c: rot(c),
                rx,
                ry,
                angle: angle + theta,
            },
            Shape::Rect { c, w, h, angle } => Shape::Rect {
                c: rot(c),
                w,
                h,
                angle: angle + theta,
            },
            Shape::Segment { a, b, width } => Shape::Segment {
                a: rot(a),
                b: rot(b),
                width,
            },
        }
    }

    /// Bounding box (min, max) in scene units.
    fn bounds(&self) -> (P, P) {
        let square = |c: P, r: f32| ((c.0 - r, c.1 - r), (c.0 + r, c.1 + r));
        match *self {
            Shape::Circle { c, r } => square(c, r),
            Shape::Ring { c, outer, .. } => square(c, outer),
            Shape::Ellipse { c, rx, ry, .. } => square(c, rx.max(ry)),
            Shape::Rect { c, w, h, .. } => square(c, 0.5 * (w * w + h * h).sqrt()),
            Shape::Segment { a, b, width } => (
                (a.0.min(b.0) - width, a.1.min(b.1) - width),
                (a.0.max(b.0) + width, a.1.max(b.1) + width),
            ),
        }
    }

    /// True when the point lies inside the shape.
    fn contains(&self, p: P) -> bool {
        match *self {
            Shape::Circle { c, r } => dist2(p, c) <= r * r,
            Shape::Ring { c, inner, outer } => {
                let d = dist2(p, c);
                d <= outer * outer && d >= inner * inner
            }
            Shape::Ellipse { c, rx, ry, angle } => {
                let (x, y) = unrotate(p, c, angle);
                (x / rx).powi(2) + (y / ry).powi(2) <= 1.0
            }
            Shape::Rect { c, w, h, angle } => {
                let (x, y) = unrotate(p, c, angle);
                x.abs() <= w / 2.0 && y.abs() <= h / 2.0
            }
            Shape::Segment { a, b, width } => {
                let (vx, vy) = (b.0 - a.0, b.1 - a.1);
                let len2 = vx * vx + vy * vy;
                let t = if len2 > 0.0 {
                    (((p.0 - a.0) * vx + (p.1 - a.1) * vy) / len2).clamp(0.0, 1.0)
                } else {
                    0.0
                };
                dist2(p, (a.0 + t * vx, a.1 + t * vy)) <= (width / 2.0).powi(2)
            }
        }
    }
}

fn dist2(a: P, b: P) -> f32 {
    (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)
}

fn unrotate(p: P, c: P, angle: f32) -> P {
    let (s, co) = angle.sin_cos();
    let (dx, dy) = (p.0 - c.0, p.1 - c.1);
    (dx * co + dy * s, -dx * s + dy * co)
}

/// An image being drawn, with its anomaly mask.
pub struct Canvas {
    pub size: u32,
    pixels: Vec<Rgb>,
    mask: Vec<bool>,
    /// Global rotation applied to every shape (the product sits slightly askew).
    rotation: f32,
}

impl Canvas {
    /// A square canvas filled with `background`, rotating every shape by `rotation` radians.
    pub fn new(size: u32, background: Rgb, rotation: f32) -> Self {
        let n = (size * size) as usize;
        Canvas {
            size,
            pixels: vec![background; n],
            mask: vec![false; n],
            rotation,
        }
    }

    /// Fills `shape` with `colour`; marks it in the mask too when `anomalous`.
    pub fn fill(&mut self, shape: Shape, colour: Rgb, anomalous: bool) {
        self.draw(shape, Some(colour), anomalous);
    }

    /// Marks `shape` in the mask without painting (e.g. where a missing part should be).
    pub fn mark(&mut self, shape: Shape) {
        self.draw(shape, None, true);
    }

    fn draw(&mut self, shape: Shape, colour: Option<Rgb>, anomalous: bool) {
        let shape = shape.rotated((0.5, 0.5), self.rotation);
        let s = self.size as f32;
        let ((x0, y0), (x1, y1)) = shape.bounds();
        let clamp = |v: f32| (v * s).floor().clamp(0.0, s - 1.0) as u32;
        for py in clamp(y0)..=clamp(y1) {
            for px in clamp(x0)..=clamp(x1) {
                let p = ((px as f32 + 0.5) / s, (py as f32 + 0.5) / s);
                if shape.contains(p) {
                    let i = (py * self.size + px) as usize;
                    if let Some(c) = colour {
                        self.pixels[i] = c;
                    }
                    if anomalous {
                        self.mask[i] = true;
                    }
                }
            }
        }
    }

    /// True when any pixel is marked anomalous.
    pub fn has_mask(&self) -> bool {
        self.mask.iter().any(|&m| m)
    }

    /// Mean position of the marked pixels in scene units, if any.
    pub fn mask_centroid(&self) -> Option<P> {
        let (mut sx, mut sy, mut n) = (0.0f64, 0.0f64, 0usize);
        for (i, &m) in self.mask.iter().enumerate() {
            if m {
                sx += (i as u32 % self.size) as f64;
                sy += (i as u32 / self.size) as f64;
                n += 1;
            }
        }
        (n > 0).then(|| {
            (
                (sx / n as f64) as f32 / self.size as f32,
                (sy / n as f64) as f32 / self.size as f32,
            )
        })
    }

    /// The finished RGB image: global brightness and colour cast, then per-pixel noise.
    pub fn finish(&self, rng: &mut Rng, brightness: f32, cast: Rgb, noise: f32) -> image::RgbImage {
        let mut img = image::RgbImage::new(self.size, self.size);
        for (i, px) in img.pixels_mut().enumerate() {
            let src = self.pixels[i];
            for ch in 0..3 {
                let v = src[ch] * brightness * cast[ch] + rng.range(-noise, noise);
                px.0[ch] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        img
    }

    /// The mask as a single-channel image, 255 where anomalous (MVTec's convention).
    pub fn mask_image(&self) -> image::GrayImage {
        let mut img = image::GrayImage::new(self.size, self.size);
        for (i, px) in img.pixels_mut().enumerate() {
            px.0[0] = if self.mask[i] { 255 } else { 0 };
        }
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_cover_what_they_should() {
        let mut c = Canvas::new(64, [0.0; 3], 0.0);
        c.fill(
            Shape::Circle {
                c: (0.5, 0.5),
                r: 0.25,
            },
            [255.0, 0.0, 0.0],
            true,
        );
        assert!(c.has_mask());
        let (x, y) = c.mask_centroid().unwrap();
        assert!((x - 0.5).abs() < 0.02 && (y - 0.5).abs() < 0.02);
        let img = c.finish(&mut Rng::new(0), 1.0, [1.0; 3], 0.0);
        assert_eq!(img.get_pixel(32, 32).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(2, 2).0, [0, 0, 0]);
        let area = c.mask_image().pixels().filter(|p| p.0[0] == 255).count() as f32;
        let expected = std::f32::consts::PI * (0.25 * 64.0f32).powi(2);
        assert!(
            (area - expected).abs() / expected < 0.05,
            "{area} vs {expected}"
        );
    }

    #[test]
    fn rotation_moves_off_centre_shapes() {
        let mut c = Canvas::new(64, [0.0; 3], std::f32::consts::FRAC_PI_2);
        c.mark(Shape::Rect {
            c: (0.8, 0.5),
            w: 0.1,
            h: 0.1,
            angle: 0.0,
        });
        let (x, y) = c.mask_centroid().unwrap();
        assert!((x - 0.5).abs() < 0.03 && (y - 0.8).abs() < 0.03, "{x} {y}");
    }

    #[test]
    fn segment_and_ring_contain_points() {
        let s = Shape::Segment {
            a: (0.1, 0.1),
            b: (0.9, 0.1),
            width: 0.04,
        };
        assert!(s.contains((0.5, 0.11)) && !s.contains((0.5, 0.2)));
        let r = Shape::Ring {
            c: (0.5, 0.5),
            inner: 0.1,
            outer: 0.2,
        };
        assert!(r.contains((0.65, 0.5)) && !r.contains((0.5, 0.5)));
    }
}
