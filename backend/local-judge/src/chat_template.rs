//! Chat templates rendered with minijinja the way `transformers`' `apply_chat_template` renders
//! them with Jinja2: blocks trimmed, Python string methods available, `raise_exception`, and the
//! tokenizer's special tokens as variables.

use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;

use crate::error::LocalJudgeError;

/// A compiled chat template with the special tokens it may refer to.
#[derive(Clone)]
pub struct ChatTemplate {
    environment: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChatTemplate")
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

const TEMPLATE_NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles a template; a syntax error is reported with minijinja's message.
    pub fn new(
        source: &str,
        bos_token: Option<&str>,
        eos_token: Option<&str>,
    ) -> Result<ChatTemplate, LocalJudgeError> {
        let mut environment = Environment::new();
        // Jinja2 as `transformers` configures it.
        environment.set_trim_blocks(true);
        environment.set_lstrip_blocks(true);
        environment
            .set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        environment.add_function("raise_exception", |message: String| -> Result<(), Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        environment
            .add_template_owned(TEMPLATE_NAME, source.to_owned())
            .map_err(|error| LocalJudgeError::ChatTemplate {
                message: error.to_string(),
            })?;
        Ok(ChatTemplate {
            environment,
            bos_token: bos_token.unwrap_or_default().to_owned(),
            eos_token: eos_token.unwrap_or_default().to_owned(),
        })
    }

    /// Renders `[system: criterion, user: prompt, assistant: response]` without a generation
    /// prompt: the response is already there to be scored.
    pub fn render(
        &self,
        criterion: &str,
        prompt: &str,
        response: &str,
    ) -> Result<String, LocalJudgeError> {
        let messages = [
            Message {
                role: "system",
                content: criterion,
            },
            Message {
                role: "user",
                content: prompt,
            },
            Message {
                role: "assistant",
                content: response,
            },
        ];
        let template = self
            .environment
            .get_template(TEMPLATE_NAME)
            .map_err(|error| LocalJudgeError::ChatTemplate {
                message: error.to_string(),
            })?;
        template
            .render(context! {
                messages => messages,
                add_generation_prompt => false,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|error| LocalJudgeError::ChatTemplate {
                message: format!("{error:#}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'].strip() + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_the_three_turns_with_python_string_methods() {
        let template = ChatTemplate::new(CHATML, None, None).expect("compiles");
        let text = template
            .render("Be helpful.", " Hi ", "Hello!")
            .expect("renders");
        assert_eq!(
            text,
            "<|im_start|>system\nBe helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
        );
    }

    #[test]
    fn syntax_errors_and_raised_exceptions_are_reported() {
        assert!(ChatTemplate::new("{% for %}", None, None).is_err());
        let raising =
            ChatTemplate::new("{{ raise_exception('roles must alternate') }}", None, None)
                .expect("compiles");
        let message = raising
            .render("a", "b", "c")
            .expect_err("raises")
            .to_string();
        assert!(message.contains("roles must alternate"), "{message}");
    }
}
