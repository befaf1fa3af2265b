//! The five synthetic products, each with explicit rules, the logical anomalies that break a
//! rule, and the structural damage it can show. Names match MVTec LOCO's categories.

use super::damage::{contamination, crack, location, scratch};
use super::raster::{Canvas, Rgb, Shape, P};
use crate::rng::Rng;

/// How one category is drawn and what can go wrong with it.
pub struct CategorySpec {
    /// Folder name, as in MVTec LOCO.
    pub name: &'static str,
    /// What the product is, for QA text.
    pub product: &'static str,
    /// The rules a normal image follows, as a sentence.
    pub rule: &'static str,
    /// Logical anomaly kinds (each breaks a rule).
    pub logical: &'static [&'static str],
    /// Structural anomaly kinds (each damages the appearance).
    pub structural: &'static [&'static str],
    /// Background colour behind the product.
    pub background: Rgb,
    /// Draws the product with `defect` (a kind from the lists above, None for a normal
    /// image) and returns what is wrong, in words, for anomalies.
    pub render: fn(&mut Canvas, &mut Rng, Option<&str>) -> Option<String>,
}

/// Every category, in MVTec LOCO's order.
pub const CATEGORIES: [CategorySpec; 5] = [
    CategorySpec {
        name: "breakfast_box",
        product: "breakfast box",
        rule: "two mandarins and one peach in the left compartment, cereal above banana chips in the right compartment, an intact divider",
        logical: &["missing_fruit", "extra_fruit", "wrong_fruit", "misplaced_chips"],
        structural: &["scratch", "contamination", "broken_divider"],
        background: [44.0, 46.0, 52.0],
        render: breakfast_box,
    },
    CategorySpec {
        name: "juice_bottle",
        product: "juice bottle",
        rule: "juice filled up to the shoulder, a centred label whose fruit matches the juice, an intact cap",
        logical: &["low_fill", "label_mismatch", "missing_label", "misplaced_label"],
        structural: &["contamination", "scratch", "broken_cap"],
        background: [28.0, 30.0, 34.0],
        render: juice_bottle,
    },
    CategorySpec {
        name: "pushpins",
        product: "pushpin tray",
        rule: "exactly one pushpin in each of the fifteen cells, intact cell walls",
        logical: &["missing_pin", "extra_pin"],
        structural: &["bent_pin", "broken_wall", "contamination"],
        background: [205.0, 205.0, 200.0],
        render: pushpins,
    },
    CategorySpec {
        name: "screw_bag",
        product: "screw bag",
        rule: "exactly two short screws, two nuts and two washers in an intact bag",
        logical: &["missing_part", "extra_part", "wrong_part"],
        structural: &["torn_bag", "scratch", "contamination"],
        background: [60.0, 62.0, 66.0],
        render: screw_bag,
    },
    CategorySpec {
        name: "splicing_connectors",
        product: "pair of splicing connectors",
        rule: "two connectors with the same number of pins joined by one cable whose colour matches the pin count (2 yellow, 3 blue, 5 red)",
        logical: &["mismatched_connectors", "wrong_cable_colour", "missing_cable"],
        structural: &["cut_cable", "broken_connector", "contamination"],
        background: [38.0, 40.0, 44.0],
        render: splicing_connectors,
    },
];

/// The category called `name`.
pub fn category(name: &str) -> Option<&'static CategorySpec> {
    CATEGORIES.iter().find(|c| c.name == name)
}

fn jitter(rng: &mut Rng, p: P, by: f32) -> P {
    (p.0 + rng.range(-by, by), p.1 + rng.range(-by, by))
}

fn circle(c: P, r: f32) -> Shape {
    Shape::Circle { c, r }
}

fn rect(c: P, w: f32, h: f32) -> Shape {
    Shape::Rect {
        c,
        w,
        h,
        angle: 0.0,
    }
}

// ---------------------------------------------------------------- breakfast box

const MANDARIN: Rgb = [240.0, 140.0, 30.0];
const PEACH: Rgb = [242.0, 172.0, 140.0];
const APPLE: Rgb = [140.0, 200.0, 70.0];
const CEREAL: Rgb = [150.0, 100.0, 50.0];
const CHIP: Rgb = [240.0, 226.0, 150.0];

fn breakfast_box(cv: &mut Canvas, rng: &mut Rng, defect: Option<&str>) -> Option<String> {
    let tan = [214.0, 190.0, 150.0];
    cv.fill(rect((0.5, 0.5), 0.8, 0.66), tan, false);
    let broken_divider = defect == Some("broken_divider");
    cv.fill(rect((0.5, 0.5), 0.02, 0.66), [165.0, 140.0, 105.0], false);
    let mut slots = [(0.25, 0.3), (0.25, 0.69), (0.39, 0.5)].map(|p| jitter(rng, p, 0.02));
    rng.shuffle(&mut slots);
    let mut what = None;
    // slots[0], slots[1]: mandarins; slots[2]: the peach.
    for (i, &p) in slots.iter().enumerate() {
        let (colour, r) = if i < 2 {
            (MANDARIN, 0.085)
        } else {
            (PEACH, 0.095)
        };
        match (defect, i) {
            (Some("missing_fruit"), 0) => {
                cv.mark(circle(p, r));
                what = Some(format!(
                    "one of the two mandarins is missing from the left compartment ({})",
                    location(p)
                ));
            }
            (Some("wrong_fruit"), 2) => {
                cv.fill(circle(p, r), APPLE, true);
                what =
                    Some("the peach in the left compartment is replaced by a green apple".into());
            }
            _ => cv.fill(circle(p, r), colour, false),
        }
    }
    if defect == Some("extra_fruit") {
        let p = jitter(
            rng,
            (0.39, if slots[2].1 < 0.5 { 0.74 } else { 0.26 }),
            0.01,
        );
        cv.fill(circle(p, 0.07), MANDARIN, true);
        what = Some(
            "there is a third mandarin in the left compartment; it should hold only two".into(),
        );
    }
    for _ in 0..45 {
        let p = (rng.range(0.56, 0.86), rng.range(0.21, 0.49));
        cv.fill(circle(p, 0.012), CEREAL, false);
    }
    let misplaced = defect == Some("misplaced_chips");
    for _ in 0..7 {
        let p = if misplaced {
            (rng.range(0.13, 0.19), rng.range(0.22, 0.78))
        } else {
            (rng.range(0.58, 0.84), rng.range(0.58, 0.79))
        };
        cv.fill(circle(p, 0.028), CHIP, misplaced);
    }
    if misplaced {
        what = Some(
            "the banana chips lie in the fruit compartment on the left instead of under the cereal"
                .into(),
        );
    }
    match defect {
        Some("scratch") => {
            let p = (rng.range(0.6, 0.8), rng.range(0.3, 0.7));
            scratch(cv, rng, p, 0.28);
            what = Some(format!(
                "a long scratch runs across the box ({})",
                location(p)
            ));
        }
        Some("contamination") => {
            let p = (rng.range(0.2, 0.8), rng.range(0.25, 0.75));
            contamination(cv, rng, p);
            what = Some(format!(
                "a dark stain contaminates the box ({})",
                location(p)
            ));
        }
        _ if broken_divider => {
            let y = rng.range(0.35, 0.65);
            cv.fill(rect((0.5, y), 0.03, 0.12), tan, true);
            crack(cv, rng, (0.5, y - 0.1), (0.5, y + 0.1));
            what = Some("the divider between the compartments is broken in the middle".into());
        }
        _ => {}
    }
    what
}

// ---------------------------------------------------------------- juice bottle

/// (name, juice colour, label fruit colour)
const JUICES: [(&str, Rgb, Rgb); 3] = [
    ("orange", [245.0, 150.0, 30.0], [250.0, 130.0, 0.0]),
    ("cherry", [150.0, 20.0, 40.0], [205.0, 0.0, 35.0]),
    ("banana", [238.0, 220.0, 120.0], [250.0, 228.0, 50.0]),
];

fn juice_bottle(cv: &mut Canvas, rng: &mut Rng, defect: Option<&str>) -> Option<String> {
    let glass = [196.0, 212.0, 218.0];
    let x = 0.5 + rng.range(-0.02, 0.02);
    cv.fill(rect((x, 0.57), 0.3, 0.62), glass, false);
    cv.fill(rect((x, 0.22), 0.12, 0.1), glass, false);
    let juice = rng.below(JUICES.len());
    let (name, liquid, icon) = JUICES[juice];
    let normal_top = 0.36 + rng.range(-0.01, 0.01);
    let mut what = None;
    let top = if defect == Some("low_fill") {
        let t = rng.range(0.52, 0.6);
        cv.mark(rect((x, (normal_top + t) / 2.0), 0.28, t - normal_top));
        what = Some("the bottle is under-filled: the juice level is far below the shoulder".into());
        t
    } else {
        normal_top
    };
    cv.fill(
        rect((x, (top + 0.87) / 2.0), 0.28, 0.87 - top),
        liquid,
        false,
    );

    let label_y = match defect {
        Some("misplaced_label") => rng.range(0.8, 0.83),
        _ => 0.66 + rng.range(-0.01, 0.01),
    };
    match defect {
        Some("missing_label") => {
            cv.mark(rect((x, label_y), 0.28, 0.16));
            what = Some(format!("the label is missing from the {name} juice bottle"));
        }
        _ => {
            let misplaced = defect == Some("misplaced_label");
            cv.fill(
                rect((x, label_y), 0.28, 0.16),
                [248.0, 248.0, 242.0],
                misplaced,
            );
            let (icon_colour, mismatch) = if defect == Some("label_mismatch") {
                let other = (juice + 1 + rng.below(JUICES.len() - 1)) % JUICES.len();
                what = Some(format!(
                    "the label shows a {} but the bottle holds {name} juice",
                    JUICES[other].0
                ));
                (JUICES[other].2, true)
            } else {
                (icon, false)
            };
            cv.fill(circle((x, label_y), 0.045), icon_colour, mismatch);
            cv.fill(
                Shape::Segment {
                    a: (x, label_y - 0.045),
                    b: (x + 0.02, label_y - 0.07),
                    width: 0.01,
                },
                [60.0, 130.0, 50.0],
                mismatch,
            );
            if misplaced {
                what = Some("the label sits too low on the bottle instead of in the middle".into());
            }
        }
    }
    let cap = [32.0, 62.0, 140.0];
    if defect == Some("broken_cap") {
        cv.fill(
            Shape::Rect {
                c: (x - 0.03, 0.165),
                w: 0.08,
                h: 0.05,
                angle: 0.35,
            },
            cap,
            true,
        );
        cv.mark(rect((x, 0.16), 0.14, 0.05));
        what = Some("the cap is broken: half of it is missing and the rest is tilted".into());
    } else {
        cv.fill(rect((x, 0.16), 0.14, 0.05), cap, false);
    }
    match defect {
        Some("contamination") => {
            let p = (x + rng.range(-0.08, 0.08), rng.range(0.45, 0.55));
            contamination(cv, rng, p);
            what = Some(format!("dark particles float in the {name} juice"));
        }
        Some("scratch") => {
            let p = (x + rng.range(-0.09, 0.09), rng.range(0.76, 0.84));
            scratch(cv, rng, p, 0.12);
            what = Some("the glass of the bottle is scratched near the bottom".into());
        }
        _ => {}
    }
    what
}

// ---------------------------------------------------------------- pushpins

const PIN: Rgb = [240.0, 200.0, 40.0];

fn pushpins(cv: &mut Canvas, rng: &mut Rng, defect: Option<&str>) -> Option<String> {
    let tray = [62.0, 66.0, 76.0];
    let wall = [118.0, 122.0, 132.0];
    let (x0, y0, cw, ch) = (0.07, 0.22, 0.172, 0.1867);
    cv.fill(rect((0.5, 0.5), 0.86, 0.56), tray, false);
    for k in 0..=5 {
        let x = x0 + k as f32 * cw;
        cv.fill(
            Shape::Segment {
                a: (x, y0),
                b: (x, y0 + 3.0 * ch),
                width: 0.012,
            },
            wall,
            false,
        );
    }
    for k in 0..=3 {
        let y = y0 + k as f32 * ch;
        cv.fill(
            Shape::Segment {
                a: (x0, y),
                b: (x0 + 5.0 * cw, y),
                width: 0.012,
            },
            wall,
            false,
        );
    }
    let target = rng.below(15);
    let (tr, tc) = (target / 5, target % 5);
    let cell_centre = |r: usize, c: usize| (x0 + (c as f32 + 0.5) * cw, y0 + (r as f32 + 0.5) * ch);
    let place = format!("row {}, column {}", tr + 1, tc + 1);
    let mut what = None;
    for cell in 0..15 {
        let (r, c) = (cell / 5, cell % 5);
        let centre = cell_centre(r, c);
        let p = jitter(rng, centre, 0.03);
        if cell == target {
            match defect {
                Some("missing_pin") => {
                    cv.mark(rect(centre, cw * 0.8, ch * 0.8));
                    what = Some(format!(
                        "the cell in {place} is empty: its pushpin is missing"
                    ));
                    continue;
                }
                Some("extra_pin") => {
                    cv.fill(circle((centre.0 - 0.035, centre.1), 0.032), PIN, true);
                    cv.fill(circle((centre.0 + 0.035, centre.1), 0.032), PIN, true);
                    what = Some(format!(
                        "the cell in {place} holds two pushpins instead of one"
                    ));
                    continue;
                }
                Some("bent_pin") => {
                    let angle = rng.range(0.0, std::f32::consts::TAU);
                    let tip = (p.0 + 0.08 * angle.cos(), p.1 + 0.08 * angle.sin());
                    cv.fill(
                        Shape::Segment {
                            a: p,
                            b: tip,
                            width: 0.01,
                        },
                        [185.0, 185.0, 195.0],
                        true,
                    );
                    cv.fill(circle(p, 0.035), PIN, true);
                    what = Some(format!(
                        "the pushpin in {place} is bent: its needle sticks out"
                    ));
                    continue;
                }
                _ => {}
            }
        }
        cv.fill(circle(p, 0.035), PIN, false);
        cv.fill(
            circle((p.0 - 0.01, p.1 - 0.01), 0.01),
            [252.0, 236.0, 150.0],
            false,
        );
    }
    match defect {
        Some("broken_wall") => {
            let (x, y) = (x0 + (tc as f32 + 1.0) * cw, cell_centre(tr, tc).1);
            let x = if tc == 4 { x - cw } else { x };
            cv.fill(rect((x, y), 0.02, ch * 0.6), tray, true);
            crack(cv, rng, (x, y - ch * 0.3), (x + 0.01, y + ch * 0.3));
            what = Some(format!("a wall of the tray is broken next to {place}"));
        }
        Some("contamination") => {
            let p = jitter(rng, cell_centre(tr, tc), 0.04);
            contamination(cv, rng, p);
            what = Some(format!("dirt contaminates the tray near {place}"));
        }
        _ => {}
    }
    what
}

// ---------------------------------------------------------------- screw bag

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Screw,
    Nut,
    Washer,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Screw => "screw",
            Part::Nut => "nut",
            Part::Washer => "washer",
        }
    }
}

fn draw_part(
    cv: &mut Canvas,
    rng: &mut Rng,
    part: Part,
    p: P,
    long: bool,
    anomalous: bool,
    bag: Rgb,
) {
    match part {
        Part::Screw => {
            let angle = rng.range(0.0, std::f32::consts::PI);
            let len = if long { 0.3 } else { 0.17 };
            cv.fill(
                Shape::Rect {
                    c: p,
                    w: len,
                    h: 0.028,
                    angle,
                },
                [150.0, 150.0, 160.0],
                anomalous,
            );
            let head = (p.0 - angle.cos() * len / 2.0, p.1 - angle.sin() * len / 2.0);
            cv.fill(circle(head, 0.026), [120.0, 120.0, 132.0], anomalous);
        }
        Part::Nut => {
            cv.fill(circle(p, 0.045), [112.0, 114.0, 124.0], anomalous);
            cv.fill(circle(p, 0.018), bag, anomalous);
        }
        Part::Washer => cv.fill(
            Shape::Ring {
                c: p,
                inner: 0.02,
                outer: 0.045,
            },
            [178.0, 178.0, 188.0],
            anomalous,
        ),
    }
}

fn screw_bag(cv: &mut Canvas, rng: &mut Rng, defect: Option<&str>) -> Option<String> {
    let bag = [204.0, 214.0, 224.0];
    cv.fill(rect((0.5, 0.5), 0.8, 0.8), bag, false);
    cv.fill(
        Shape::Segment {
            a: (0.1, 0.12),
            b: (0.9, 0.12),
            width: 0.02,
        },
        [170.0, 180.0, 190.0],
        false,
    );
    let mut slots: Vec<P> = [0.27, 0.5, 0.73]
        .iter()
        .flat_map(|&y| [0.27, 0.5, 0.73].map(|x| (x, y)))
        .collect();
    rng.shuffle(&mut slots);
    let slots: Vec<P> = slots.into_iter().map(|p| jitter(rng, p, 0.025)).collect();
    let mut parts = vec![
        Part::Screw,
        Part::Screw,
        Part::Nut,
        Part::Nut,
        Part::Washer,
        Part::Washer,
    ];
    let mut what = None;
    let odd = *rng.pick(&[Part::Screw, Part::Nut, Part::Washer]);
    match defect {
        Some("missing_part") => {
            let i = parts.iter().position(|&p| p == odd).unwrap_or(0);
            parts.remove(i);
            cv.mark(circle(slots[6], 0.07));
            what = Some(format!(
                "one {} is missing: the bag should hold two screws, two nuts and two washers",
                odd.name()
            ));
        }
        Some("extra_part") => {
            parts.push(odd);
            what = Some(format!(
                "there is an extra {}: three instead of two",
                odd.name()
            ));
        }
        _ => {}
    }
    for (i, &part) in parts.iter().enumerate() {
        // The extra part is the last one; the long screw replaces the first screw.
        let extra = defect == Some("extra_part") && i == parts.len() - 1;
        let long = defect == Some("wrong_part") && i == 0;
        draw_part(cv, rng, part, slots[i], long, extra || long, bag);
        if long {
            what = Some(format!(
                "one screw is a long bolt instead of a short screw ({})",
                location(slots[i])
            ));
        }
    }
    match defect {
        Some("torn_bag") => {
            let y = rng.range(0.3, 0.7);
            let end = (0.28, y + rng.range(-0.08, 0.08));
            crack(cv, rng, (0.1, y), end);
            what = Some(format!(
                "the bag is torn on its left side ({})",
                location((0.15, y))
            ));
        }
        Some("scratch") => {
            let p = slots[7];
            scratch(cv, rng, p, 0.2);
            what = Some(format!("the bag is scratched ({})", location(p)));
        }
        Some("contamination") => {
            let p = slots[8];
            contamination(cv, rng, p);
            what = Some(format!(
                "a dark stain contaminates the bag ({})",
                location(p)
            ));
        }
        _ => {}
    }
    what
}

// ---------------------------------------------------------------- splicing connectors

/// Pin counts and the cable colour each requires.
const WIRING: [(usize, &str, Rgb); 3] = [
    (2, "yellow", [235.0, 200.0, 40.0]),
    (3, "blue", [40.0, 90.0, 200.0]),
    (5, "red", [200.0, 40.0, 40.0]),
];

fn connector(cv: &mut Canvas, c: P, pins: usize, anomalous: bool) {
    let h = 0.05 + 0.035 * pins as f32;
    cv.fill(rect(c, 0.12, h), [236.0, 236.0, 230.0], anomalous);
    for k in 0..pins {
        let y = c.1 - h / 2.0 + (k as f32 + 0.5) * h / pins as f32;
        cv.fill(rect((c.0, y), 0.06, 0.018), [200.0, 120.0, 60.0], anomalous);
    }
}

fn splicing_connectors(cv: &mut Canvas, rng: &mut Rng, defect: Option<&str>) -> Option<String> {
    let w = rng.below(WIRING.len());
    let (pins, colour_name, colour) = WIRING[w];
    let left = jitter(rng, (0.2, 0.5), 0.03);
    let right = jitter(rng, (0.8, 0.5), 0.03);
    let mut what = None;
    let cable_colour = if defect == Some("wrong_cable_colour") {
        let other = WIRING[(w + 1 + rng.below(2)) % 3];
        what = Some(format!(
            "the cable is {} but a {pins}-pin connector pair needs a {colour_name} cable",
            other.1
        ));
        other.2
    } else {
        colour
    };
    let sag = rng.range(0.05, 0.15);
    let cut_at = rng.range(0.4, 0.6);
    let steps = 12;
    let point = |t: f32| {
        let x = (left.0 + 0.06) + t * ((right.0 - 0.06) - (left.0 + 0.06));
        let y = left.1 + t * (right.1 - left.1) + sag * 4.0 * t * (1.0 - t);
        (x, y)
    };
    for i in 0..steps {
        let (t0, t1) = (i as f32 / steps as f32, (i + 1) as f32 / steps as f32);
        let seg = Shape::Segment {
            a: point(t0),
            b: point(t1),
            width: 0.03,
        };
        match defect {
            Some("missing_cable") => cv.mark(seg),
            Some("cut_cable") if (t0 - cut_at).abs() < 0.05 => cv.mark(seg),
            Some("wrong_cable_colour") => cv.fill(seg, cable_colour, true),
            _ => cv.fill(seg, cable_colour, false),
        }
    }
    match defect {
        Some("missing_cable") => {
            what = Some("the cable between the two connectors is missing".into())
        }
        Some("cut_cable") => {
            what = Some(format!(
                "the cable is cut through ({})",
                location(point(cut_at))
            ));
        }
        _ => {}
    }
    connector(cv, left, pins, false);
    if defect == Some("mismatched_connectors") {
        let other = WIRING[(w + 1 + rng.below(2)) % 3].0;
        connector(cv, right, other, true);
        what = Some(format!(
            "the connectors do not match: the left one has {pins} pins, the right one {other}"
        ));
    } else {
        connector(cv, right, pins, false);
    }
    match defect {
        Some("broken_connector") => {
            let (c, side) = if rng.unit() < 0.5 {
                (left, "left")
            } else {
                (right, "right")
            };
            crack(cv, rng, (c.0 - 0.06, c.1 - 0.05), (c.0 + 0.05, c.1 + 0.06));
            what = Some(format!("the {side} connector is cracked"));
        }
        Some("contamination") => {
            let p = point(rng.range(0.2, 0.8));
            contamination(cv, rng, p);
            what = Some(format!(
                "a dark stain contaminates the cable ({})",
                location(p)
            ));
        }
        _ => {}
    }
    what
}
