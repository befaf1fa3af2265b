//! Assembling a request to a vision-language model, the paper's Part B: with Chain-of-Image a
//! normal *template* image of the same category goes in first, the *test* image second, then the
//! step-by-step prompt; the plain question and fine-tuned models get the test image alone.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::prompts::{BuiltinPrompt, VERDICT_INSTRUCTION};
use crate::rng::Rng;

/// A prompt as a run uses it: built in (plain, P1–P3) or written by a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    pub name: String,
    pub text: String,
    /// True when the prompt compares a template with the test image.
    pub chain_of_image: bool,
}

impl From<&BuiltinPrompt> for Prompt {
    fn from(p: &BuiltinPrompt) -> Self {
        Prompt {
            name: p.name.to_string(),
            text: p.text.to_string(),
            chain_of_image: p.chain_of_image,
        }
    }
}

/// Said between the images and a Chain-of-Image prompt, so the model knows which is which.
pub const IMAGE_ROLES: &str =
    "The first image is the template, a normal sample. The second image is the test image.";

/// What goes to the model: the user's message (one `<image>` line per image, first) and the
/// image files in the same order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// A system prompt for the chat template (the paper's prompts use none).
    pub system: Option<String>,
    pub message: String,
    pub images: Vec<PathBuf>,
    /// The template image, when the request has one.
    pub template: Option<PathBuf>,
}

/// How a model is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A base model: Chain-of-Image prompts get the template; every prompt ends with the
    /// verdict instruction.
    Base,
    /// A model fine-tuned on QA pairs (Part A): the test image alone and the question as it was
    /// trained, since its answers open with the verdict ("Yes. …" / "No. …").
    FineTuned,
}

/// Why a request cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("prompt {0:?} is empty")]
    EmptyPrompt(String),
    #[error("prompt {0:?} is a Chain-of-Image prompt: it needs a template image")]
    NoTemplate(String),
}

/// Builds the request for `test`. A Chain-of-Image prompt on a base model needs `template`.
pub fn assemble(
    prompt: &Prompt,
    mode: Mode,
    template: Option<PathBuf>,
    test: PathBuf,
) -> Result<Request, RequestError> {
    let text = prompt.text.trim();
    if text.is_empty() {
        return Err(RequestError::EmptyPrompt(prompt.name.clone()));
    }
    let two_images = mode == Mode::Base && prompt.chain_of_image;
    if !two_images {
        let message = match mode {
            Mode::Base => format!("<image>\n{text}\n{VERDICT_INSTRUCTION}"),
            Mode::FineTuned => format!("<image>\n{text}"),
        };
        return Ok(Request {
            system: None,
            message,
            images: vec![test],
            template: None,
        });
    }
    let template = template.ok_or_else(|| RequestError::NoTemplate(prompt.name.clone()))?;
    Ok(Request {
        system: None,
        message: format!("<image>\n<image>\n{IMAGE_ROLES}\n{text}\n{VERDICT_INSTRUCTION}"),
        images: vec![template.clone(), test],
        template: Some(template),
    })
}

/// The template for test image `test_id` among `normals` (the normal training images of its
/// category, in a stable order): a seeded choice, so a run's templates are reproducible and
/// differ from image to image.
pub fn pick_template<T>(seed: u64, test_id: i64, normals: &[T]) -> Option<&T> {
    if normals.is_empty() {
        return None;
    }
    let mut rng = Rng::derive(seed, &[test_id as u64]);
    normals.get((rng.next_u64() % normals.len() as u64) as usize)
}

/// The explanation part of a reply: the text without its final `Verdict:` line.
pub fn explanation_of(reply: &str) -> String {
    let trimmed = reply.trim_end();
    if let Some(pos) = trimmed.rfind('\n') {
        let last = trimmed[pos + 1..].trim().to_lowercase();
        if last.starts_with("verdict:") {
            return trimmed[..pos].trim().to_string();
        }
    } else if trimmed.trim().to_lowercase().starts_with("verdict:") {
        return String::new();
    }
    trimmed.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompts::builtin;

    fn p(name: &str) -> Prompt {
        builtin(name).unwrap().into()
    }

    #[test]
    fn chain_of_image_puts_the_template_first() {
        let r = assemble(&p("P1"), Mode::Base, Some("t.png".into()), "x.png".into()).unwrap();
        assert_eq!(
            r.images,
            vec![PathBuf::from("t.png"), PathBuf::from("x.png")]
        );
        assert!(r
            .message
            .starts_with("<image>\n<image>\nThe first image is the template"));
        assert!(r.message.contains("Step 1: Identify all objects"));
        assert!(r.message.ends_with(VERDICT_INSTRUCTION));
        assert_eq!(r.template, Some("t.png".into()));
    }

    #[test]
    fn plain_and_fine_tuned_requests_have_one_image() {
        let plain = assemble(
            &p("plain"),
            Mode::Base,
            Some("t.png".into()),
            "x.png".into(),
        )
        .unwrap();
        assert_eq!(plain.images, vec![PathBuf::from("x.png")]);
        assert_eq!(plain.template, None);
        assert!(plain.message.ends_with(VERDICT_INSTRUCTION));
        let tuned = assemble(&p("P2"), Mode::FineTuned, None, "x.png".into()).unwrap();
        assert_eq!(tuned.images.len(), 1);
        assert!(!tuned.message.contains("Verdict"));
        assert_eq!(
            assemble(&p("plain"), Mode::FineTuned, None, "x.png".into())
                .unwrap()
                .message,
            format!("<image>\n{}", crate::synth::qa::MANUAL_QUESTION)
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        let e = assemble(&p("P3"), Mode::Base, None, "x.png".into()).unwrap_err();
        assert_eq!(e, RequestError::NoTemplate("P3".into()));
        assert!(e.to_string().contains("needs a template"), "{e}");
        let empty = Prompt {
            name: "mine".into(),
            text: "  ".into(),
            chain_of_image: false,
        };
        assert_eq!(
            assemble(&empty, Mode::Base, None, "x.png".into()),
            Err(RequestError::EmptyPrompt("mine".into()))
        );
    }

    #[test]
    fn templates_are_seeded_per_image() {
        let normals: Vec<i64> = (0..20).collect();
        let a: Vec<i64> = (0..50)
            .map(|i| *pick_template(7, i, &normals).unwrap())
            .collect();
        let b: Vec<i64> = (0..50)
            .map(|i| *pick_template(7, i, &normals).unwrap())
            .collect();
        assert_eq!(a, b);
        let c: Vec<i64> = (0..50)
            .map(|i| *pick_template(8, i, &normals).unwrap())
            .collect();
        assert_ne!(a, c);
        // Spread over the pool rather than one favourite.
        let mut seen = a.clone();
        seen.sort();
        seen.dedup();
        assert!(seen.len() > 10, "{seen:?}");
        assert!(pick_template::<i64>(7, 1, &[]).is_none());
    }

    #[test]
    fn the_verdict_line_is_not_part_of_the_explanation() {
        assert_eq!(
            explanation_of("Step 1: a box.\nStep 2: the pin is missing.\nVerdict: anomalous\n"),
            "Step 1: a box.\nStep 2: the pin is missing."
        );
        assert_eq!(explanation_of("Verdict: normal"), "");
        assert_eq!(
            explanation_of(" Yes. The cap is bent. "),
            "Yes. The cap is bent."
        );
        assert_eq!(explanation_of(""), "");
    }
}
