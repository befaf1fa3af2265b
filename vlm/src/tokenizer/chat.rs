//! Chat templates applied by code (no Jinja): ChatML for SmolLM2/Qwen-style models and
//! LLaVA-1.5's `USER: ... ASSISTANT:` format.

/// How a conversation turns into the model's prompt text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatTemplate {
    /// `<|im_start|>role\ncontent<|im_end|>\n` turns; `default_system` is added when the
    /// caller gives no system prompt (as SmolLM2's template does).
    ChatMl { default_system: Option<String> },
    /// LLaVA-1.5: `USER: {prompt} ASSISTANT:`, with an optional system line before.
    Llava,
}

impl ChatTemplate {
    /// SmolLM2-Instruct's template.
    pub fn smollm2() -> Self {
        ChatTemplate::ChatMl {
            default_system: Some(
                "You are a helpful AI assistant named SmolLM, trained by Hugging Face".into(),
            ),
        }
    }

    /// The prompt for one user message, ready for the assistant's reply.
    pub fn prompt(&self, system: Option<&str>, user: &str) -> String {
        self.prompt_with_images(system, 0, user)
    }

    /// The prompt for one user message with `images` images, each an `<image>` line before the
    /// text (where the model puts that image's features), in the order the images are given.
    pub fn prompt_with_images(&self, system: Option<&str>, images: usize, text: &str) -> String {
        let user = format!("{}{text}", "<image>\n".repeat(images));
        match self {
            ChatTemplate::ChatMl { default_system } => {
                let mut out = String::new();
                if let Some(sys) = system.or(default_system.as_deref()) {
                    out.push_str(&format!("<|im_start|>system\n{sys}<|im_end|>\n"));
                }
                out.push_str(&format!(
                    "<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
                ));
                out
            }
            ChatTemplate::Llava => match system {
                // llava-hf's template: the system text has no role name; each text part is
                // followed by a space.
                Some(sys) => format!("{sys} USER: {user} ASSISTANT:"),
                None => format!("USER: {user} ASSISTANT:"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_and_llava() {
        let p = ChatTemplate::smollm2().prompt(None, "Hi");
        assert_eq!(
            p,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(ChatTemplate::smollm2()
            .prompt(Some("Be brief."), "Hi")
            .starts_with("<|im_start|>system\nBe brief.<|im_end|>"));
        assert_eq!(
            ChatTemplate::Llava.prompt(None, "<image>\nWhat is wrong?"),
            "USER: <image>\nWhat is wrong? ASSISTANT:"
        );
    }
}
