//! Chat templates: the checkpoint's own Jinja `chat_template`, rendered with minijinja the way
//! transformers' `apply_chat_template` renders it (trim_blocks and lstrip_blocks, loop controls,
//! Python string and dict methods, `raise_exception`, a Python-style `tojson`, and the
//! `{% generation %}` marks of training templates). `strftime_now` is left undefined: the
//! templates that use it test `is defined` and fall back to a fixed date.

use minijinja::value::{Kwargs, Serde, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};
use serde::Serialize;

/// LLaVA-1.5's template as llava-hf ships it, for LLaVA folders that carry none.
pub const LLAVA_JINJA: &str = "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

/// The image placeholder a text-only template gets in front of the message (one line per
/// image), where the vision model puts that image's features.
const IMAGE_LINE: &str = "<image>\n";

/// Texts that cannot occur in a real message, to find where a template puts things.
const PROBE_TEXT: &str = "\u{E000}probe\u{E001}";
const PROBE_REPLY: &str = "\u{E002}reply\u{E003}";

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("the chat template is not valid Jinja: {0:#}")]
    Syntax(Error),
    #[error("the chat template failed: {0:#}")]
    Render(Error),
    #[error("the chat template leaves the message's text out of the prompt, whether the message's content is a string or a list of parts")]
    DropsText,
}

/// The special tokens a template may write (`{{ bos_token }}`, `{{ eos_token }}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    pub bos: Option<String>,
    pub eos: Option<String>,
}

/// How a template expects a message's content: transformers passes whatever the caller gives,
/// and templates are written for one form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Content {
    /// `[{"type": "image"}, …, {"type": "text", "text": …}]`, as multimodal processors pass
    /// it (LLaVA's template puts the images where it wants them).
    Parts,
    /// One string; images go in as `<image>` lines before the text.
    Text,
}

/// One message as transformers' callers pass it (keys in this order, as `tojson` shows).
#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: MessageContent<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum MessageContent<'a> {
    Text(String),
    Parts(Vec<Part<'a>>),
}

#[derive(Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Part<'a> {
    Image,
    Text { text: &'a str },
}

/// A compiled chat template.
#[derive(Clone)]
pub struct ChatTemplate {
    source: String,
    env: Environment<'static>,
    specials: SpecialTokens,
    content: Content,
    reply_separator: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("content", &self.content)
            .field("reply_separator", &self.reply_separator)
            .field("source_chars", &self.source.len())
            .finish()
    }
}

impl PartialEq for ChatTemplate {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.specials == other.specials
    }
}

impl ChatTemplate {
    /// Compiles a checkpoint's template and finds, by rendering, which content form it takes
    /// and what separates the assistant's turn from its text.
    pub fn new(source: &str, specials: SpecialTokens) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .map_err(TemplateError::Syntax)?,
        );
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_template_owned("chat", without_generation_marks(source))
            .map_err(TemplateError::Syntax)?;
        let mut template = ChatTemplate {
            source: source.to_string(),
            env,
            specials,
            content: Content::Parts,
            reply_separator: String::new(),
        };
        template.content = template.content_form()?;
        template.reply_separator = template.find_reply_separator();
        Ok(template)
    }

    /// LLaVA-1.5's template ([`LLAVA_JINJA`]).
    pub fn llava() -> Self {
        Self::new(LLAVA_JINJA, SpecialTokens::default())
            .expect("LLaVA's template compiles and renders (tested)")
    }

    /// The Jinja text as the checkpoint gave it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What the template writes between the generation prompt and the reply's text (LLaVA's
    /// `ASSISTANT:` is followed by a space, ChatML's `assistant` line by nothing more), so a
    /// training target is `prompt + separator + answer`.
    pub fn reply_separator(&self) -> &str {
        &self.reply_separator
    }

    /// The prompt for one user message, ready for the assistant's reply.
    pub fn prompt(&self, system: Option<&str>, user: &str) -> Result<String, TemplateError> {
        self.prompt_with_images(system, 0, user)
    }

    /// The prompt for one user message with `images` images before its text, in the order the
    /// images are given.
    pub fn prompt_with_images(
        &self,
        system: Option<&str>,
        images: usize,
        text: &str,
    ) -> Result<String, TemplateError> {
        let mut messages = Vec::new();
        if let Some(sys) = system {
            messages.push(self.message("system", 0, sys));
        }
        messages.push(self.message("user", images, text));
        self.render(&messages, true)
    }

    fn message<'a>(&self, role: &'a str, images: usize, text: &'a str) -> Message<'a> {
        let content = match self.content {
            Content::Parts => {
                let mut parts = vec![Part::Image; images];
                parts.push(Part::Text { text });
                MessageContent::Parts(parts)
            }
            Content::Text => MessageContent::Text(format!("{}{text}", IMAGE_LINE.repeat(images))),
        };
        Message { role, content }
    }

    fn render(
        &self,
        messages: &[Message<'_>],
        add_generation_prompt: bool,
    ) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template("chat")
            .map_err(TemplateError::Render)?;
        let context = minijinja::context! {
            messages => Value::from(Serde(messages)),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.specials.bos.clone().unwrap_or_default(),
            eos_token => self.specials.eos.clone().unwrap_or_default(),
        };
        template.render(context).map_err(TemplateError::Render)
    }

    /// The list-of-parts form when the template puts the text of such a message in the prompt,
    /// else the string form.
    fn content_form(&mut self) -> Result<Content, TemplateError> {
        let mut last = TemplateError::DropsText;
        for form in [Content::Parts, Content::Text] {
            self.content = form;
            match self.prompt_with_images(None, 1, PROBE_TEXT) {
                Ok(text) if puts_text(&text) => return Ok(form),
                Ok(_) => {}
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn find_reply_separator(&self) -> String {
        let user = self.message("user", 0, PROBE_TEXT);
        let reply = self.message("assistant", 0, PROBE_REPLY);
        let (Ok(prompt), Ok(full)) = (
            self.render(std::slice::from_ref(&user), true),
            self.render(&[user, reply], false),
        ) else {
            return String::new();
        };
        full.strip_prefix(&prompt)
            .and_then(|rest| rest.find(PROBE_REPLY).map(|at| rest[..at].to_string()))
            .unwrap_or_default()
    }
}

/// True when a probe's rendering holds the probe text itself, not a printed list of parts
/// (`[{'type': 'text', 'text': '…'}]`, what a string-content template makes of parts).
fn puts_text(rendered: &str) -> bool {
    rendered.contains(PROBE_TEXT)
        && !rendered.contains(&format!("'{PROBE_TEXT}'"))
        && !rendered.contains(&format!("\"{PROBE_TEXT}\""))
}

/// transformers marks the assistant's text of training templates with `{% generation %}` …
/// `{% endgeneration %}` (its own Jinja extension, which only records where the text is);
/// here they become an always-true `if`, keeping their whitespace control.
fn without_generation_marks(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = rest.find("{%") {
        let Some(len) = rest[open..].find("%}") else {
            break;
        };
        let tag = &rest[open..open + len + 2];
        let word =
            tag[2..tag.len() - 2].trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        out.push_str(&rest[..open]);
        match word {
            "generation" => out.push_str(&tag.replacen("generation", "if true", 1)),
            "endgeneration" => out.push_str(&tag.replacen("endgeneration", "endif", 1)),
            _ => out.push_str(tag),
        }
        rest = &rest[open + len + 2..];
    }
    out.push_str(rest);
    out
}

fn raise_exception(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// transformers' `tojson`: Python's `json.dumps` with `ensure_ascii=False`, so no HTML escaping
/// (minijinja's own escapes `<`), with `indent` and `sort_keys`; maps keep their order.
fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let mut out = String::new();
    let style = JsonStyle {
        indent,
        sort_keys: sort_keys.unwrap_or(false),
    };
    style.write(&value, 0, &mut out)?;
    Ok(Value::from_safe_string(out))
}

struct JsonStyle {
    indent: Option<usize>,
    sort_keys: bool,
}

impl JsonStyle {
    /// Python puts `", "` between items on one line, `","` and a newline when indenting.
    fn next_item(&self, first: bool, depth: usize, out: &mut String) {
        if !first {
            out.push_str(if self.indent.is_some() { "," } else { ", " });
        }
        self.newline(depth, out);
    }

    fn newline(&self, depth: usize, out: &mut String) {
        if let Some(n) = self.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    }

    fn write(&self, v: &Value, depth: usize, out: &mut String) -> Result<(), Error> {
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => match v.as_i64() {
                Some(i) if v.is_integer() => out.push_str(&i.to_string()),
                _ => {
                    let f = f64::try_from(v.clone())
                        .map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
                    out.push_str(&serde_json::to_string(&f).unwrap_or_else(|_| "NaN".into()));
                }
            },
            ValueKind::String => out.push_str(&quoted(v.as_str().unwrap_or_default())),
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter()?.collect();
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    self.next_item(i == 0, depth + 1, out);
                    self.write(item, depth + 1, out)?;
                }
                if !items.is_empty() {
                    self.newline(depth, out);
                }
                out.push(']');
            }
            ValueKind::Map => {
                let mut keys: Vec<Value> = v.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort();
                }
                out.push('{');
                for (i, key) in keys.iter().enumerate() {
                    self.next_item(i == 0, depth + 1, out);
                    out.push_str(&quoted(&key.to_string()));
                    out.push_str(": ");
                    self.write(&v.get_item(key)?, depth + 1, out)?;
                }
                if !keys.is_empty() {
                    self.newline(depth, out);
                }
                out.push('}');
            }
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson: cannot write a {other}"),
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's template, as its tokenizer_config.json and GGUF carry it.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn smollm2_renders_its_default_system_prompt_and_a_given_one() {
        let t = ChatTemplate::new(SMOLLM2, SpecialTokens::default()).unwrap();
        assert_eq!(t.content, Content::Text);
        assert_eq!(
            t.prompt(None, "Hi").unwrap(),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        assert!(t
            .prompt(Some("Be brief."), "Hi")
            .unwrap()
            .starts_with("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user"));
        assert_eq!(
            t.prompt_with_images(None, 2, "Compare.").unwrap(),
            t.prompt(None, "<image>\n<image>\nCompare.").unwrap()
        );
        assert_eq!(t.reply_separator(), "");
    }

    #[test]
    fn llava_takes_parts_and_separates_the_reply_with_a_space() {
        let t = ChatTemplate::llava();
        assert_eq!(t.content, Content::Parts);
        assert_eq!(
            t.prompt_with_images(None, 1, "What is wrong?").unwrap(),
            "USER: <image>\nWhat is wrong? ASSISTANT:"
        );
        assert_eq!(t.reply_separator(), " ");
    }

    #[test]
    fn a_template_that_takes_both_forms_gets_parts() {
        // Qwen2-VL style: a string is used as is, parts place the template's own image marks.
        let src = "{% for m in messages %}{% if m.content is string %}{{ m.content }}{% else %}{% for c in m.content %}{% if c.type == 'image' %}<|vision_pad|>{% else %}{{ c.text }}{% endif %}{% endfor %}{% endif %}{% endfor %}";
        let t = ChatTemplate::new(src, SpecialTokens::default()).unwrap();
        assert_eq!(t.content, Content::Parts);
        assert_eq!(
            t.prompt_with_images(None, 2, "x").unwrap(),
            "<|vision_pad|><|vision_pad|>x"
        );
    }

    #[test]
    fn whitespace_control_loop_controls_and_python_methods_behave_as_in_jinja2() {
        // trim_blocks drops the newline after a block tag, lstrip_blocks the indent before it.
        let src = "{% for m in messages %}\n  {% if m.role == 'system' %}{% continue %}{% endif %}\n[{{ m.content.strip().title() }}]\n{% endfor %}\n{% if add_generation_prompt %}>{% endif %}";
        let t = ChatTemplate::new(src, SpecialTokens::default()).unwrap();
        assert_eq!(
            t.prompt(Some("sys"), "  hello there ").unwrap(),
            "[Hello There]\n>"
        );
    }

    #[test]
    fn bos_and_eos_come_from_the_tokenizer() {
        let src =
            "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}";
        let specials = SpecialTokens {
            bos: Some("<s>".into()),
            eos: Some("</s>".into()),
        };
        let t = ChatTemplate::new(src, specials).unwrap();
        assert_eq!(t.prompt(None, "hi").unwrap(), "<s>hi</s>");
    }

    #[test]
    fn raise_exception_is_an_error_with_the_templates_message() {
        // Mistral-style: no system role.
        let src = "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}[INST] {{ m.content }} [/INST]{% endfor %}";
        let t = ChatTemplate::new(src, SpecialTokens::default()).unwrap();
        assert_eq!(t.prompt(None, "hi").unwrap(), "[INST] hi [/INST]");
        let err = t.prompt(Some("be nice"), "hi").unwrap_err().to_string();
        assert!(err.contains("System role not supported"), "{err}");
    }

    #[test]
    fn tojson_writes_python_json_without_html_escapes() {
        let src = "{% for m in messages %}{{ m | tojson }}|{{ {'b': [1, 2.5, none, true], 'a': '<x>'} | tojson(indent=2, sort_keys=true) }}{% endfor %}";
        let t = ChatTemplate::new(src, SpecialTokens::default()).unwrap();
        assert_eq!(
            t.prompt(None, "é<b>\n").unwrap(),
            "{\"role\": \"user\", \"content\": \"é<b>\\n\"}|{\n  \"a\": \"<x>\",\n  \"b\": [\n    1,\n    2.5,\n    null,\n    true\n  ]\n}"
        );
    }

    #[test]
    fn generation_marks_keep_their_whitespace_control() {
        assert_eq!(
            without_generation_marks(
                "a{%- generation %}b{% endgeneration -%}c{% if x %}{% endif %}"
            ),
            "a{%- if true %}b{% endif -%}c{% if x %}{% endif %}"
        );
        assert_eq!(without_generation_marks("{% unclosed"), "{% unclosed");
    }

    #[test]
    fn hostile_templates_are_errors_not_panics() {
        assert!(matches!(
            ChatTemplate::new("{% for %}", SpecialTokens::default()),
            Err(TemplateError::Syntax(_))
        ));
        assert!(matches!(
            ChatTemplate::new("constant text", SpecialTokens::default()),
            Err(TemplateError::DropsText)
        ));
        assert!(matches!(
            ChatTemplate::new("{{ raise_exception('no') }}", SpecialTokens::default()),
            Err(TemplateError::Render(_))
        ));
        // Deep recursion is cut by minijinja's limit.
        let deep = "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}";
        assert!(ChatTemplate::new(deep, SpecialTokens::default()).is_err());
    }
}
