//! Chat templates rendered with minijinja the way `transformers`' `apply_chat_template` renders
//! them with Jinja2: blocks trimmed, Python string methods available, `raise_exception`,
//! `strftime_now`, and the tokenizer's special tokens as variables.
//!
//! Fidelity notes (checked against transformers 4.57 renderings of the real Qwen2.5-Instruct,
//! Qwen3 and Llama-3.1-Instruct templates in `tests/fixtures/chat_templates/`):
//! - `tools` and `documents` are passed as `none`, as transformers passes them, so that
//!   `tools is defined` and `tools is none` behave the same;
//! - `strip()`, `lstrip()`, `rstrip()` and the `trim` filter without arguments strip Python's
//!   whitespace (which, unlike Rust's, includes U+001C..U+001F);
//! - `strftime_now(format)` formats the current time in UTC (transformers uses the local time of
//!   the machine). Templates that call it (Llama 3.2 and 3.3) put today's date into every input,
//!   so their rewards can change from one day to the next, as they do with transformers;
//! - `tojson` keeps minijinja's compact, HTML-safe output; transformers' differs in spacing, but
//!   the real templates only call it on tools, which scoring never passes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, State};
use serde::Serialize;

use crate::error::LocalJudgeError;

/// A compiled chat template with the special tokens it may refer to.
#[derive(Clone)]
pub struct ChatTemplate {
    /// Shared, so that clones of an encoder do not copy the compiled template.
    environment: Arc<Environment<'static>>,
    bos_token: Option<String>,
    eos_token: Option<String>,
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
    content: Content<'a>,
}

/// A message's content: a string, or a list of parts (`transformers`' multimodal form, which
/// vision-language templates render part by part).
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Parts(Vec<PartValue<'a>>),
}

/// A content part as templates read it: `{"type": "image"}`, `{"type": "video"}` or
/// `{"type": "text", "text": …}`.
#[derive(Serialize)]
struct PartValue<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

/// One part of a user turn with media: an image or a video (the template writes its
/// placeholder) or text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentPart<'a> {
    /// An image, in the order the images are given to the model.
    Image,
    /// A video, in the order the videos are given to the model.
    Video,
    /// Text.
    Text(&'a str),
}

const TEMPLATE_NAME: &str = "chat";

impl ChatTemplate {
    /// Compiles a template; a syntax error is reported with minijinja's message. Special tokens
    /// the tokenizer does not have stay undefined, as in transformers.
    pub fn new(
        source: &str,
        bos_token: Option<&str>,
        eos_token: Option<&str>,
    ) -> Result<ChatTemplate, LocalJudgeError> {
        let mut environment = Environment::new();
        // Jinja2 as `transformers` configures it (a single trailing newline of the template is
        // dropped, minijinja's default too).
        environment.set_trim_blocks(true);
        environment.set_lstrip_blocks(true);
        environment.set_keep_trailing_newline(false);
        environment.set_unknown_method_callback(python_method);
        environment.add_filter("trim", python_trim);
        environment.add_function("raise_exception", |message: String| -> Result<(), Error> {
            Err(Error::new(ErrorKind::InvalidOperation, message))
        });
        environment.add_function("strftime_now", |format: String| -> Result<String, Error> {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))?;
            strftime_utc(&format, now.as_secs() as i64)
        });
        environment
            .add_template_owned(TEMPLATE_NAME, source.to_owned())
            .map_err(|error| LocalJudgeError::ChatTemplate {
                message: error.to_string(),
            })?;
        Ok(ChatTemplate {
            environment: Arc::new(environment),
            bos_token: bos_token.map(str::to_owned),
            eos_token: eos_token.map(str::to_owned),
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
                content: Content::Text(criterion),
            },
            Message {
                role: "user",
                content: Content::Text(prompt),
            },
            Message {
                role: "assistant",
                content: Content::Text(response),
            },
        ];
        self.render_messages(&messages, false)
    }

    /// Renders `[system: criterion, user: parts, assistant: response]`, the user turn as a list
    /// of content parts (images and text), without a generation prompt.
    pub fn render_with_parts(
        &self,
        criterion: &str,
        parts: &[ContentPart<'_>],
        response: &str,
    ) -> Result<String, LocalJudgeError> {
        let messages = [
            Message {
                role: "system",
                content: Content::Text(criterion),
            },
            Message {
                role: "user",
                content: Content::Parts(part_values(parts)),
            },
            Message {
                role: "assistant",
                content: Content::Text(response),
            },
        ];
        self.render_messages(&messages, false)
    }

    /// Renders `[system, user]` (no system message when `system` is `None`) with the generation
    /// prompt, the text a chat model continues with its answer.
    pub fn render_generation_prompt(
        &self,
        system: Option<&str>,
        user: &str,
    ) -> Result<String, LocalJudgeError> {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            messages.push(Message {
                role: "system",
                content: Content::Text(system),
            });
        }
        messages.push(Message {
            role: "user",
            content: Content::Text(user),
        });
        self.render_messages(&messages, true)
    }

    /// Renders `[system, user: parts]` (no system message when `system` is `None`) with the
    /// generation prompt: a vision-language judge's prompt, media in the order of `parts`.
    pub fn render_generation_prompt_with_parts(
        &self,
        system: Option<&str>,
        parts: &[ContentPart<'_>],
    ) -> Result<String, LocalJudgeError> {
        let mut messages = Vec::with_capacity(2);
        if let Some(system) = system {
            messages.push(Message {
                role: "system",
                content: Content::Text(system),
            });
        }
        messages.push(Message {
            role: "user",
            content: Content::Parts(part_values(parts)),
        });
        self.render_messages(&messages, true)
    }

    fn render_messages(
        &self,
        messages: &[Message<'_>],
        add_generation_prompt: bool,
    ) -> Result<String, LocalJudgeError> {
        let template = self
            .environment
            .get_template(TEMPLATE_NAME)
            .map_err(|error| LocalJudgeError::ChatTemplate {
                message: error.to_string(),
            })?;
        let mut context: BTreeMap<&str, Value> = BTreeMap::new();
        context.insert("messages", Value::from_serialize(messages));
        context.insert("add_generation_prompt", Value::from(add_generation_prompt));
        context.insert("tools", Value::from(()));
        context.insert("documents", Value::from(()));
        if let Some(token) = &self.bos_token {
            context.insert("bos_token", Value::from(token.as_str()));
        }
        if let Some(token) = &self.eos_token {
            context.insert("eos_token", Value::from(token.as_str()));
        }
        template
            .render(context)
            .map_err(|error| LocalJudgeError::ChatTemplate {
                message: format!("{error:#}"),
            })
    }
}

/// The parts as templates read them.
fn part_values<'a>(parts: &[ContentPart<'a>]) -> Vec<PartValue<'a>> {
    parts
        .iter()
        .map(|part| match part {
            ContentPart::Image => PartValue {
                kind: "image",
                text: None,
            },
            ContentPart::Video => PartValue {
                kind: "video",
                text: None,
            },
            ContentPart::Text(text) => PartValue {
                kind: "text",
                text: Some(text),
            },
        })
        .collect()
}

/// Python's `str.isspace` for one character: Unicode white space plus the four information
/// separators U+001C..U+001F.
fn is_python_space(character: char) -> bool {
    character.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&character)
}

/// Python string methods: `strip`, `lstrip` and `rstrip` without arguments use Python's
/// whitespace; everything else is minijinja-contrib's pycompat.
fn python_method(
    state: &State<'_, '_>,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let (Some(text), true) = (value.as_str(), args.is_empty()) {
        match method {
            "strip" => return Ok(Value::from(text.trim_matches(is_python_space))),
            "lstrip" => return Ok(Value::from(text.trim_start_matches(is_python_space))),
            "rstrip" => return Ok(Value::from(text.trim_end_matches(is_python_space))),
            _ => {}
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// Jinja2's `trim` filter: Python's `str.strip(chars)`.
fn python_trim(value: String, chars: Option<String>) -> String {
    match chars {
        Some(chars) => value
            .trim_matches(|character| chars.contains(character))
            .to_owned(),
        None => value.trim_matches(is_python_space).to_owned(),
    }
}

const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The proleptic Gregorian (year, month 1-12, day 1-31) of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Python's `time.strftime(format, time.gmtime(unix))` for the directives chat templates use:
/// `%a %A %b %B %d %H %I %j %m %M %p %S %y %Y %%`. Other directives are an error rather than a
/// silently different date.
pub fn strftime_utc(format: &str, unix: i64) -> Result<String, Error> {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday (index 3 from Monday).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let month_index = (month - 1) as usize;
    let cumulative = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let day_of_year = cumulative[month_index] + day + u32::from(month > 2 && is_leap(year));
    let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);

    let mut output = String::with_capacity(format.len() + 16);
    let mut characters = format.chars();
    while let Some(character) = characters.next() {
        if character != '%' {
            output.push(character);
            continue;
        }
        let Some(directive) = characters.next() else {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "strftime_now: the format ends with a lone %",
            ));
        };
        match directive {
            'a' => output.push_str(&WEEKDAYS[weekday][..3]),
            'A' => output.push_str(WEEKDAYS[weekday]),
            'b' => output.push_str(&MONTHS[month_index][..3]),
            'B' => output.push_str(MONTHS[month_index]),
            'd' => output.push_str(&format!("{day:02}")),
            'H' => output.push_str(&format!("{hour:02}")),
            'I' => output.push_str(&format!("{:02}", (hour + 11) % 12 + 1)),
            'j' => output.push_str(&format!("{day_of_year:03}")),
            'm' => output.push_str(&format!("{month:02}")),
            'M' => output.push_str(&format!("{minute:02}")),
            'p' => output.push_str(if hour < 12 { "AM" } else { "PM" }),
            'S' => output.push_str(&format!("{second:02}")),
            'y' => output.push_str(&format!("{:02}", year.rem_euclid(100))),
            'Y' => output.push_str(&year.to_string()),
            '%' => output.push('%'),
            other => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("strftime_now: the directive %{other} is not supported"),
                ));
            }
        }
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'].strip() + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    #[derive(Deserialize)]
    struct Case {
        criterion: String,
        prompt: String,
        response: String,
        rendered: String,
    }

    #[derive(Deserialize)]
    struct TemplateCases {
        bos_token: Option<String>,
        eos_token: Option<String>,
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct StrftimeCase {
        unix: i64,
        format: String,
        expected: String,
    }

    #[derive(Deserialize)]
    struct Expected {
        templates: BTreeMap<String, TemplateCases>,
        strftime: Vec<StrftimeCase>,
    }

    /// transformers' renderings, written by tests/fixtures/make_decoders.py.
    fn expected() -> Expected {
        serde_json::from_str(include_str!(
            "../tests/fixtures/chat_templates/expected.json"
        ))
        .expect("expected.json parses")
    }

    fn assert_renders_like_transformers(name: &str, source: &str) {
        let expected = expected();
        let cases = &expected.templates[name];
        let template = ChatTemplate::new(
            source,
            cases.bos_token.as_deref(),
            cases.eos_token.as_deref(),
        )
        .expect("compiles");
        assert!(!cases.cases.is_empty());
        for (index, case) in cases.cases.iter().enumerate() {
            let rendered = template
                .render(&case.criterion, &case.prompt, &case.response)
                .unwrap_or_else(|error| panic!("{name} case {index}: {error}"));
            assert_eq!(rendered, case.rendered, "{name} case {index}");
        }
    }

    #[test]
    fn qwen2_5_instruct_template_renders_like_transformers() {
        assert_renders_like_transformers(
            "qwen2_5_instruct",
            include_str!("../tests/fixtures/chat_templates/qwen2_5_instruct.jinja"),
        );
    }

    #[test]
    fn qwen3_template_renders_like_transformers() {
        // namespace(), reversed slices, split/rstrip/lstrip/strip with arguments, and the empty
        // think block Qwen3 puts before the last assistant turn.
        assert_renders_like_transformers(
            "qwen3",
            include_str!("../tests/fixtures/chat_templates/qwen3.jinja"),
        );
    }

    #[test]
    fn llama3_1_instruct_template_renders_like_transformers() {
        // bos_token, the trim filter, `messages[1:]`, `'tool_calls' in message`, `tools is none`.
        assert_renders_like_transformers(
            "llama3_1_instruct",
            include_str!("../tests/fixtures/chat_templates/llama3_1_instruct.jinja"),
        );
    }

    #[test]
    fn strftime_matches_python_in_utc() {
        let expected = expected();
        assert!(!expected.strftime.is_empty());
        for case in &expected.strftime {
            assert_eq!(
                strftime_utc(&case.format, case.unix).expect("formats"),
                case.expected,
                "{} at {}",
                case.format,
                case.unix
            );
        }
        assert!(strftime_utc("%Q", 0).is_err());
        assert!(strftime_utc("100%", 0).is_err());
    }

    #[test]
    fn llama3_2_date_header_uses_today() {
        let template = ChatTemplate::new(
            include_str!("../tests/fixtures/chat_templates/llama3_2_date.jinja"),
            None,
            None,
        )
        .expect("compiles");
        let rendered = template.render("a", "b", "c").expect("renders");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64;
        // Allow for midnight passing between the two clock readings.
        let candidates = [now, now - 60].map(|time| {
            format!(
                "Today Date: {}",
                strftime_utc("%d %b %Y", time).expect("formats")
            )
        });
        assert!(candidates.contains(&rendered), "{rendered}");
    }

    #[test]
    fn python_whitespace_is_stripped() {
        let template = ChatTemplate::new(
            "{{ messages[0].content.strip() }}|{{ messages[1].content | trim }}|{{ messages[2].content.strip('x') }}",
            None,
            None,
        )
        .expect("compiles");
        assert_eq!(
            template
                .render("\u{1c} a \u{1f}", "\u{1d}\n b\t", "xxcxx")
                .expect("renders"),
            "a|b|c"
        );
    }

    #[test]
    fn undefined_special_tokens_render_empty_and_tools_are_none() {
        let template = ChatTemplate::new(
            "[{{ bos_token }}]{% if tools is defined and tools is none %}none{% endif %}",
            None,
            Some("</s>"),
        )
        .expect("compiles");
        assert_eq!(template.render("a", "b", "c").expect("renders"), "[]none");
    }

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
