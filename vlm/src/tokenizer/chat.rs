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
    /// Recognises a model's Jinja chat template (from GGUF metadata or tokenizer_config.json):
    /// ChatML, with the default system prompt the template writes itself when the caller gives
    /// none (SmolLM2, Qwen2), or LLaVA-1.5's. None for templates this code does not know.
    pub fn detect(jinja: &str) -> Option<Self> {
        if jinja.contains("<|im_start|>") {
            return Some(ChatTemplate::ChatMl {
                default_system: default_system(jinja),
            });
        }
        if jinja.contains("USER: ") && jinja.contains("ASSISTANT:") {
            return Some(ChatTemplate::Llava);
        }
        None
    }

    /// SmolLM2-Instruct's template.
    pub fn smollm2() -> Self {
        ChatTemplate::ChatMl {
            default_system: Some(
                "You are a helpful AI assistant named SmolLM, trained by Hugging Face".into(),
            ),
        }
    }

    /// What separates the prompt from the reply's text: LLaVA's `ASSISTANT:` is followed by a
    /// space, ChatML's `assistant` line by nothing more.
    pub fn reply_separator(&self) -> &'static str {
        match self {
            ChatTemplate::ChatMl { .. } => "",
            ChatTemplate::Llava => " ",
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

/// The literal system prompt in a ChatML template's `'<|im_start|>system\n...<|im_end|>'`
/// string, if the template has one (a prompt that comes from a variable is not a default).
fn default_system(jinja: &str) -> Option<String> {
    // The newline is a real one in SmolLM2's template, an escaped `\n` in others.
    const OPEN: &str = "<|im_start|>system";
    let after = &jinja[jinja.find(OPEN)? + OPEN.len()..];
    let rest = after
        .strip_prefix('\n')
        .or_else(|| after.strip_prefix("\\n"))?;
    let end = rest.find("<|im_end|>")?;
    let text = &rest[..end];
    // Quotes or braces mean the text is built from variables, not written out.
    if text.is_empty() || text.contains(['\'', '"', '{', '}', '+']) {
        return None;
    }
    Some(text.to_string())
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

    #[test]
    fn detects_templates_and_their_default_system_prompt() {
        // SmolLM2-135M-Instruct's template (from its GGUF), abridged.
        let smol = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}";
        assert_eq!(ChatTemplate::detect(smol), Some(ChatTemplate::smollm2()));
        let qwen = "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}";
        assert_eq!(
            ChatTemplate::detect(qwen),
            Some(ChatTemplate::ChatMl {
                default_system: Some("You are a helpful assistant.".into())
            })
        );
        let plain = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}";
        assert_eq!(
            ChatTemplate::detect(plain),
            Some(ChatTemplate::ChatMl {
                default_system: None
            })
        );
        let llava = "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";
        assert_eq!(ChatTemplate::detect(llava), None, "no USER literal");
        let llava = llava.replace("message['role'].upper() + ': '", "'USER: '");
        assert_eq!(ChatTemplate::detect(&llava), Some(ChatTemplate::Llava));
        assert_eq!(ChatTemplate::detect("{{ messages }}"), None);
    }
}
