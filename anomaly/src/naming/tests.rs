use super::*;

fn region(x: f32, y: f32, w: f32, h: f32) -> Region {
    Region { x, y, w, h }
}

#[test]
fn normal_forms_by_hand() {
    for (word, want) in [
        ("Scratches", "scratch"),
        ("scratched", "scratch"),
        ("scratching", "scratch"),
        ("pins", "pin"),
        ("pushpins", "pushpin"),
        ("colour", "color"),
        ("coloured", "color"),
        ("colours", "color"),
        ("color", "color"),
        ("centre", "center"),
        ("centred", "center"),
        ("grey", "gray"),
        ("torn", "tear"),
        ("tearing", "tear"),
        ("broken", "break"),
        ("bent", "bend"),
        ("cutting", "cut"),
        ("ripped", "rip"),
        ("missing", "miss"),
        ("filled", "fill"),
        ("underfilled", "underfill"),
        ("cherries", "cherry"),
        ("glass", "glass"),
        ("glasses", "glass"),
        ("boxes", "box"),
        ("misplace", "misplac"),
        ("misplaced", "misplac"),
        ("misplacing", "misplac"),
        ("labelled", "label"),
        ("needs", "need"),
        ("need", "need"),
        ("is", "is"),
        ("this", "this"),
        ("Défauts", "défaut"),
        ("", ""),
    ] {
        assert_eq!(normalise(word), want, "{word}");
    }
}

#[test]
fn content_words_leave_out_what_names_nothing() {
    assert_eq!(content_words("missing pin"), ["miss", "pin"]);
    assert_eq!(
        content_words("wrong_cable_colour"),
        ["wrong", "cabl", "color"]
    );
    assert_eq!(content_words("The Missing Pushpins"), ["miss", "pushpin"]);
    for nothing in ["", "   ", "the", "a defect", "logical anomaly", "?!…", "🙂"] {
        assert!(content_words(nothing).is_empty(), "{nothing:?}");
        assert_eq!(
            names_defect("the pin is missing", nothing),
            None,
            "{nothing:?}"
        );
    }
}

#[test]
fn real_explanations_name_their_defect() {
    let yes = [
        (
            "Yes. Logical anomaly: the pushpin in the second row, third cell from the left is missing.",
            "missing pin",
        ),
        (
            "Yes. Structural anomaly: the divider between the compartments is broken in the middle.",
            "broken divider",
        ),
        ("The tray lacks one thumbtack.", "missing pin"),
        ("There is no pushpin in the top left cell.", "missing pin"),
        ("A cell without a pin.", "missing pin"),
        ("The cable is blue instead of yellow.", "wrong cable colour"),
        ("The cable has the wrong color.", "wrong cable colour"),
        ("The connectors don't match: 2 pins and 3 pins.", "mismatched connectors"),
        ("The bag is ripped on the left.", "torn bag"),
        ("A tear runs through the pouch.", "torn bag"),
        ("The bottle is underfilled.", "low fill"),
        ("The juice level is too low.", "low fill"),
        ("There is not enough juice in the bottle.", "low fill"),
        ("A dark stain contaminates the box (top left).", "contamination"),
        ("Dark particles float in the juice.", "contamination"),
        ("The surface is dirty.", "contamination"),
        ("One screw is cracked.", "broken part"),
        ("The pushpin's needle is bent sideways.", "bent pin"),
        ("The wire is severed near the right connector.", "cut cable"),
        ("The banana chips lie in the fruit compartment instead of under the cereal.", "misplaced chips"),
        // Any name works by its content words, case and inflection aside.
        ("A grommet is missing at the top.", "missing grommet"),
        ("The GROMMETS are absent.", "Missing_Grommet"),
        ("Das Teil: ÉTIQUETTE manquante 🙂", "étiquette manquante"),
    ];
    for (text, name) in yes {
        assert_eq!(names_defect(text, name), Some(true), "{name}: {text}");
    }
}

#[test]
fn hostile_and_wrong_explanations_do_not() {
    let no = [
        ("", "missing pin"),
        ("   \n\n ...", "missing pin"),
        ("The pushpin is not missing.", "missing pin"),
        ("Nothing is missing.", "missing pin"),
        ("No pin is missing.", "missing pin"),
        ("Nothing is missing, but a pin is bent.", "missing pin"),
        // Both words, but in different sentences.
        (
            "The pin in row 1 is fine. The cable is missing.",
            "missing pin",
        ),
        ("The cable colour is correct.", "wrong cable colour"),
        ("The bag is intact.", "torn bag"),
        ("The bag is not torn.", "torn bag"),
        ("The bottle is full.", "low fill"),
        ("The surface is free of dirt and stains.", "contamination"),
        ("The grommet is fine.", "missing grommet"),
        ("🙂🙂🙂", "scratch"),
        ("\u{0}\u{fffd}", "scratch"),
        // A different defect of the same thing.
        ("The pushpin is bent.", "missing pin"),
        ("The cable is cut.", "missing cable"),
    ];
    for (text, name) in no {
        assert_eq!(names_defect(text, name), Some(false), "{name}: {text:?}");
    }
    let long = "The part looks fine. ".repeat(2000) + "A washer is missing.";
    assert_eq!(names_defect(&long, "missing part"), Some(true));
    assert_eq!(names_defect(&long, "extra part"), Some(false));
}

#[test]
fn location_words_cover_cells_by_hand() {
    let top_left = Cells::cell(0, 0);
    let centre = Cells::cell(1, 1);
    assert_eq!(location_cells("a scratch at the top left"), top_left);
    assert_eq!(location_cells("in the top-left corner"), top_left);
    assert_eq!(location_cells("the upper left-hand corner"), top_left);
    assert_eq!(location_cells("broken in the middle"), centre);
    assert_eq!(location_cells("in the centre of the box"), centre);
    assert_eq!(
        location_cells("near the top centre"),
        Cells::cell(0, 1),
        "top row, middle column"
    );
    assert_eq!(
        location_cells("on the left"),
        Cells::cell(0, 0)
            .union(Cells::cell(1, 0))
            .union(Cells::cell(2, 0))
    );
    assert_eq!(
        location_cells("in a corner"),
        Cells::cell(0, 0)
            .union(Cells::cell(0, 2))
            .union(Cells::cell(2, 0))
            .union(Cells::cell(2, 2))
    );
    assert_eq!(
        location_cells("the left one has 2 pins, the right one 3"),
        location_cells("left").union(location_cells("right"))
    );
    assert_eq!(location_cells("the lower part"), location_cells("bottom"));
    // Not places.
    for none in [
        "",
        "the third cell from the left is empty",
        "the second pushpin from the right is bent",
        "the label sits too low instead of in the middle",
        "the pin is not in the centre",
        "the left image is the template",
        "the right number of pins",
        "a lower fill level than expected",
        "the juice is lower than the shoulder",
        "row 2, column 3",
    ] {
        assert!(location_cells(none).is_empty(), "{none:?}");
    }
}

#[test]
fn regions_by_their_centre_in_thirds() {
    let r = region(0.1, 0.1, 0.2, 0.2); // centre (0.2, 0.2)
    assert_eq!(region_cells(&r), Some(Cells::cell(0, 0)));
    let check = |text: &str| location_match(text, &[r]);
    assert_eq!(
        check("scratch at the top left"),
        Some(LocationMatch::Agrees)
    );
    assert_eq!(check("on the left side"), Some(LocationMatch::Agrees));
    assert_eq!(check("bottom right corner"), Some(LocationMatch::Disagrees));
    assert_eq!(check("in the centre"), Some(LocationMatch::Disagrees));
    assert_eq!(
        check("a scratch on the surface"),
        Some(LocationMatch::NoLocationWords)
    );
    assert_eq!(check(""), Some(LocationMatch::NoLocationWords));
    // No region, or one that is not numbers: not judged.
    assert_eq!(location_match("top left", &[]), None);
    assert_eq!(
        location_match("top left", &[region(f32::NAN, 0.0, 0.1, 0.1)]),
        None
    );
    // Edges: an empty box in the corner, a strip along the right edge.
    assert_eq!(
        region_cells(&region(0.0, 0.0, 0.0, 0.0)),
        Some(Cells::cell(0, 0))
    );
    assert_eq!(
        region_cells(&region(0.95, 0.4, 0.05, 0.2)),
        Some(Cells::cell(1, 2))
    );
    // Past the image (not from a checked import): clamped.
    assert_eq!(
        region_cells(&region(1.5, -3.0, 0.5, 0.5)),
        Some(Cells::cell(0, 2))
    );
    // Within 1/12 of a border: both thirds. Centre (0.35, 0.5): left or middle column.
    let near = [region(0.3, 0.45, 0.1, 0.1)];
    assert_eq!(location_match("left", &near), Some(LocationMatch::Agrees));
    assert_eq!(location_match("centre", &near), Some(LocationMatch::Agrees));
    assert_eq!(
        location_match("right", &near),
        Some(LocationMatch::Disagrees)
    );
    // Past the band (centre x 0.45): only the middle.
    let mid = [region(0.4, 0.45, 0.1, 0.1)];
    assert_eq!(location_match("left", &mid), Some(LocationMatch::Disagrees));
    // A whole-image box is in the middle.
    assert_eq!(
        location_match("top", &[region(0.0, 0.0, 1.0, 1.0)]),
        Some(LocationMatch::Disagrees)
    );
    // Several regions: one that agrees is enough.
    let two = [region(0.8, 0.8, 0.1, 0.1), r];
    assert_eq!(
        location_match("top left", &two),
        Some(LocationMatch::Agrees)
    );
}

#[test]
fn checks_and_their_counts() {
    let names = vec!["missing pin".to_string(), "the".to_string()];
    let regions = [region(0.05, 0.25, 0.15, 0.2)]; // centre (0.125, 0.35): left, top or middle
    let c = check(
        "Yes. The pushpin in the top left cell is missing.",
        &names,
        &regions,
    );
    assert_eq!(
        c,
        Check {
            named: Some(true),
            location: Some(LocationMatch::Agrees)
        }
    );
    let c2 = check("The tray looks wrong on the right.", &names, &regions);
    assert_eq!(
        c2,
        Check {
            named: Some(false),
            location: Some(LocationMatch::Disagrees)
        }
    );
    let c3 = check("A pin is missing.", &names, &[]);
    assert_eq!(c3.location, None);
    let c4 = check("A pin is missing.", &["defect".to_string()], &regions);
    assert_eq!(
        c4,
        Check {
            named: None,
            location: Some(LocationMatch::NoLocationWords)
        }
    );
    assert!(check("anything", &[], &[]).is_empty());
    let mut s = NamingScores::default();
    for c in [c, c2, c3, c4] {
        s.add(&c);
    }
    // Named: c yes, c2 no, c3 yes (c4 not judged) → 2/3. Location: c agrees, c2 disagrees,
    // c4 has no words (c3 no region) → 1/2 and 1 without words.
    assert_eq!(
        s,
        NamingScores {
            judged: 3,
            named: 2,
            located: 2,
            location_agrees: 1,
            no_location_words: 1
        }
    );
    assert_eq!(s.named_share(), Some(2.0 / 3.0));
    assert_eq!(s.location_share(), Some(0.5));
    assert_eq!(NamingScores::default().named_share(), None);
    assert_eq!(NamingScores::default().location_share(), None);
}

/// The generator's own answers name their defect; its concise answers never put it elsewhere
/// than its mask, nor name another defect of its category. (The verbose answers also state
/// the category's rule, whose places are where things belong: "a centred label".)
#[test]
fn the_generators_answers_name_their_defect_and_place_it_right() {
    use crate::dataset::qa::{parse_jsonl, QaSource};
    use crate::synth::categories::CATEGORIES;
    use crate::synth::{generate, Counts, SynthConfig};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("set");
    let cfg = SynthConfig {
        seed: 3,
        size: 128,
        counts: Counts {
            train: 0,
            validation: 0,
            good: 0,
            logical: 12,
            structural: 9,
        },
        ..SynthConfig::default()
    };
    generate(&out, &cfg).unwrap();
    let text = std::fs::read_to_string(out.join("qa.jsonl")).unwrap();
    let qa = parse_jsonl("qa.jsonl", &text, None).unwrap();
    let mut kinds_seen = HashSet::new();
    let mut located = 0;
    let mut problems = Vec::new();
    for q in &qa {
        let name = q.anomaly.clone().unwrap();
        kinds_seen.insert(name.clone());
        let c = check(&q.answer, std::slice::from_ref(&name), &[q.region.unwrap()]);
        if c.named != Some(true) {
            problems.push(format!("does not name {name:?}: {}", q.answer));
        }
        if q.source != QaSource::Manual {
            continue;
        }
        if c.location == Some(LocationMatch::Disagrees) {
            problems.push(format!(
                "{:?} disagrees with {:?}: {}",
                location_cells(&q.answer),
                q.region,
                q.answer
            ));
        }
        located += usize::from(c.location == Some(LocationMatch::Agrees));
        let category = q.image.split('/').next().unwrap();
        let spec = CATEGORIES.iter().find(|c| c.name == category).unwrap();
        for other in spec.logical.iter().chain(spec.structural) {
            let other = other.replace('_', " ");
            if other != name && names_defect(&q.answer, &other) == Some(true) {
                problems.push(format!("{name:?} also names {other:?}: {}", q.answer));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let every: usize = CATEGORIES
        .iter()
        .map(|c| c.logical.len() + c.structural.len())
        .sum();
    let distinct: HashSet<String> = CATEGORIES
        .iter()
        .flat_map(|c| c.logical.iter().chain(c.structural))
        .map(|k| k.replace('_', " "))
        .collect();
    assert!(every >= distinct.len());
    assert_eq!(kinds_seen, distinct, "every kind was generated");
    assert!(located >= 20, "{located} answers with places that agree");
}
