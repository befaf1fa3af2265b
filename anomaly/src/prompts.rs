//! The built-in prompts: the plain question and the paper's Chain-of-Image prompts P1–P3,
//! verbatim from its Figure 2.

use serde::Serialize;

/// A prompt shipped with the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BuiltinPrompt {
    /// Short name used on the command line and in tables: plain, P1, P2, P3.
    pub name: &'static str,
    /// True when the prompt expects a template image before the test image.
    pub chain_of_image: bool,
    /// The text, as the paper gives it.
    pub text: &'static str,
}

/// The plain question (no CoI) and P1–P3.
pub const BUILTIN_PROMPTS: [BuiltinPrompt; 4] = [
    BuiltinPrompt {
        name: "plain",
        chain_of_image: false,
        text: "Is there any defect in this image? If yes, describe the defect and where it is.",
    },
    BuiltinPrompt {
        name: "P1",
        chain_of_image: true,
        text: "Step 1: Identify all objects in the template image and describe their expected appearance. Step 2: Describe any visible differences between the test image and the template image. Step 3: Judge whether those differences are defect or normal.",
    },
    BuiltinPrompt {
        name: "P2",
        chain_of_image: true,
        text: "Step 1: The template image follows certain visual rules or regular patterns. Observe the template carefully and summarize these rules or expected visual characteristics. Step 2: Based on these rules, describe the differences between the template image and the test image, focusing on the left, right, and central regions. Step 3: Compare these two images and identify any inconsistencies or anomalies found. Step 4: Determine whether the test image contains any defects. If yes, describe the specific reason or evidence for your judgment.",
    },
    BuiltinPrompt {
        name: "P3",
        chain_of_image: true,
        text: "Step 1: The template image follows certain visual rules or regular patterns. Observe the template carefully and summarize these rules or expected visual characteristics. Step 2: Based on these rules, describe the differences between the template image and the test image, focusing on the left, right, and central regions. Step 3: From the differences identified in Step 2, determine which ones violate the rules in Step 1 and list them as inconsistencies or anomalies. Briefly explain why each one is anomalous. Step 4: Based on the anomalies listed in Step 3, make a final judgment on whether the test image contains any defects. If it does, summarize the main anomaly and its location as the specific reason or evidence for your judgment.",
    },
];

/// Appended to every prompt so the verdict can be read back (`verdict::parse_verdict` looks for
/// the last `Verdict:` line first).
pub const VERDICT_INSTRUCTION: &str =
    "End your answer with one line: \"Verdict: normal\" or \"Verdict: anomalous\".";

impl BuiltinPrompt {
    /// The text sent to the model: the paper's words, then the verdict instruction.
    pub fn with_verdict_instruction(&self) -> String {
        format!("{}\n{VERDICT_INSTRUCTION}", self.text)
    }
}

/// Finds a built-in prompt by name, ignoring case.
pub fn builtin(name: &str) -> Option<&'static BuiltinPrompt> {
    BUILTIN_PROMPTS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_instruction_is_appended_and_its_format_parses() {
        let text = builtin("P1").unwrap().with_verdict_instruction();
        assert!(text.starts_with("Step 1: Identify") && text.ends_with("\"Verdict: anomalous\"."));
        use crate::verdict::{parse_verdict, Verdict};
        assert_eq!(
            parse_verdict("Step 3: a missing pin.\nVerdict: anomalous"),
            Verdict::Anomalous
        );
        assert_eq!(
            parse_verdict("Step 3: only lighting.\nVerdict: normal"),
            Verdict::Normal
        );
    }

    #[test]
    fn paper_prompts_are_present_and_step_structured() {
        assert_eq!(builtin("p3").map(|p| p.name), Some("P3"));
        assert!(builtin("P4").is_none());
        // Count step headings ("Step N:"), not references to earlier steps.
        let steps = |name| {
            let text = builtin(name).unwrap().text;
            (1..=9)
                .filter(|n| text.contains(&format!("Step {n}:")))
                .count()
        };
        assert_eq!((steps("P1"), steps("P2"), steps("P3")), (3, 4, 4));
        assert!(!builtin("plain").unwrap().chain_of_image);
        assert!(builtin("P2")
            .unwrap()
            .text
            .ends_with("evidence for your judgment."));
    }
}
