//! One prompt template: text with Python `str.format` placeholders (`{name}`, `{{`/`}}` for
//! literal braces), parsed once and checked against the placeholders its task and kind allow.
//!
//! Python syntax keeps the authors' templates (rendered with `str.format` in their harness)
//! byte-for-byte replayable.

use omnireward_shared::Task;

/// Which of a task's three templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TemplateKind {
    /// System prompt of the w/o Ties setting (verdict `[[A]]` or `[[B]]`).
    System,
    /// System prompt of the w/ Ties setting (also allows `[[C]]`).
    SystemWithTies,
    /// User message template.
    User,
}

impl TemplateKind {
    /// The three kinds, in the order the set hash serialises them.
    pub const ALL: [TemplateKind; 3] = [
        TemplateKind::System,
        TemplateKind::SystemWithTies,
        TemplateKind::User,
    ];

    /// Stable key, used in the set hash and in messages.
    pub fn key(self) -> &'static str {
        match self {
            TemplateKind::System => "system",
            TemplateKind::SystemWithTies => "system_with_ties",
            TemplateKind::User => "user",
        }
    }

    /// File name in our folder layout (`<task key>/<file name>`).
    pub fn file_name(self) -> &'static str {
        match self {
            TemplateKind::System => "system.txt",
            TemplateKind::SystemWithTies => "system_with_ties.txt",
            TemplateKind::User => "user.txt",
        }
    }

    /// Module-level variable that holds this template in the authors' `utils/prompts/<task>.py`.
    pub fn python_variable(self) -> &'static str {
        match self {
            TemplateKind::System => "system_prompt_template",
            TemplateKind::SystemWithTies => "system_prompt_template_with_tie",
            TemplateKind::User => "prompt_template",
        }
    }
}

/// A value a template may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placeholder {
    /// `{criteria}`: the annotator's criterion, verbatim (system templates).
    Criteria,
    /// `{prompt}`: the text prompt or edit instruction.
    Prompt,
    /// `{responseA}`: the response shown as A (text, or a media slot).
    ResponseA,
    /// `{responseB}`: the response shown as B (text, or a media slot).
    ResponseB,
    /// `{image}`: the prompt image of TI2T.
    Image,
    /// `{original_image}`: the image to edit in TI2I.
    OriginalImage,
    /// `{video}`: the prompt video of TV2T.
    Video,
    /// `{audio}`: the prompt audio of TA2T.
    Audio,
}

impl Placeholder {
    /// The name written between braces.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::Criteria => "criteria",
            Placeholder::Prompt => "prompt",
            Placeholder::ResponseA => "responseA",
            Placeholder::ResponseB => "responseB",
            Placeholder::Image => "image",
            Placeholder::OriginalImage => "original_image",
            Placeholder::Video => "video",
            Placeholder::Audio => "audio",
        }
    }

    /// The placeholder that carries a task's prompt media, if the task has any.
    pub fn prompt_media(task: Task) -> Option<Placeholder> {
        match task {
            Task::TextImageToText => Some(Placeholder::Image),
            Task::TextImageToImage => Some(Placeholder::OriginalImage),
            Task::TextVideoToText => Some(Placeholder::Video),
            Task::TextAudioToText => Some(Placeholder::Audio),
            _ => None,
        }
    }

    /// Every placeholder a template of this task and kind may use.
    pub fn allowed(task: Task, kind: TemplateKind) -> Vec<Placeholder> {
        match kind {
            TemplateKind::System | TemplateKind::SystemWithTies => vec![Placeholder::Criteria],
            TemplateKind::User => {
                let mut allowed = vec![
                    Placeholder::Prompt,
                    Placeholder::ResponseA,
                    Placeholder::ResponseB,
                ];
                allowed.extend(Placeholder::prompt_media(task));
                allowed
            }
        }
    }

    /// The placeholders a template of this kind must contain.
    pub fn required(kind: TemplateKind) -> &'static [Placeholder] {
        match kind {
            TemplateKind::System | TemplateKind::SystemWithTies => &[Placeholder::Criteria],
            TemplateKind::User => &[Placeholder::ResponseA, Placeholder::ResponseB],
        }
    }
}

/// A piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Segment {
    /// Text copied as is (`{{`/`}}` already reduced to one brace).
    Literal(String),
    /// A value filled in at render time.
    Placeholder(Placeholder),
}

/// A checked template: its source text and the pieces it renders from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
}

/// Why a template text was refused; the caller adds the file and line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TemplateProblem {
    /// Malformed braces or a placeholder form other than `{name}`.
    Syntax(String),
    /// A `{name}` this task and kind do not provide.
    Unknown {
        /// The name between the braces.
        name: String,
        /// What is allowed instead.
        allowed: Vec<Placeholder>,
    },
    /// A placeholder the kind requires is absent.
    Missing(Placeholder),
}

impl Template {
    /// Parses and checks `text` as the `kind` template of `task`, refusing the first problem.
    pub(super) fn parse(
        text: String,
        task: Task,
        kind: TemplateKind,
    ) -> Result<Template, TemplateProblem> {
        let (template, problems) = Template::scan(text, task, kind);
        match problems.into_iter().next() {
            Some(problem) => Err(problem),
            None => Ok(template),
        }
    }

    /// Parses text known to be valid (our embedded set, which a test parses strictly), so
    /// loading it cannot fail; anything malformed would stay literal text.
    pub(super) fn parse_trusted(text: String, task: Task, kind: TemplateKind) -> Template {
        Template::scan(text, task, kind).0
    }

    /// Splits `text` into literals and placeholders, collecting every problem on the way.
    fn scan(text: String, task: Task, kind: TemplateKind) -> (Template, Vec<TemplateProblem>) {
        let allowed = Placeholder::allowed(task, kind);
        let mut problems = Vec::new();
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut characters = text.chars().peekable();
        while let Some(character) = characters.next() {
            match character {
                '{' if characters.peek() == Some(&'{') => {
                    characters.next();
                    literal.push('{');
                }
                '}' if characters.peek() == Some(&'}') => {
                    characters.next();
                    literal.push('}');
                }
                '}' => {
                    problems.push(TemplateProblem::Syntax(
                        "single `}` (write `}}` for a literal brace)".to_owned(),
                    ));
                    literal.push('}');
                }
                '{' => {
                    let mut field = String::new();
                    let mut closed = false;
                    while let Some(next) = characters.next_if(|next| *next != '{') {
                        if next == '}' {
                            closed = true;
                            break;
                        }
                        field.push(next);
                    }
                    let placeholder = allowed
                        .iter()
                        .copied()
                        .find(|candidate| candidate.name() == field);
                    match placeholder {
                        Some(placeholder) if closed => {
                            if !literal.is_empty() {
                                segments.push(Segment::Literal(std::mem::take(&mut literal)));
                            }
                            segments.push(Segment::Placeholder(placeholder));
                            continue;
                        }
                        _ if !closed => problems.push(TemplateProblem::Syntax(format!(
                            "`{{{field}` is never closed (write `{{{{` for a literal brace)"
                        ))),
                        // Python would also accept `{0}`, `{name!r}` or `{name:>10}`, but the
                        // reference only ever passes keyword values, so these are mistakes.
                        _ if !is_identifier(&field) => {
                            problems.push(TemplateProblem::Syntax(format!(
                                "unsupported placeholder `{{{field}}}`: only `{{name}}` \
                                 placeholders are supported (write `{{{{` and `}}}}` for \
                                 literal braces)"
                            )))
                        }
                        _ => problems.push(TemplateProblem::Unknown {
                            name: field.clone(),
                            allowed: allowed.clone(),
                        }),
                    }
                    literal.push('{');
                    literal.push_str(&field);
                    if closed {
                        literal.push('}');
                    }
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        let template = Template { text, segments };
        problems.extend(
            Placeholder::required(kind)
                .iter()
                .copied()
                .filter(|required| !template.contains(*required))
                .map(TemplateProblem::Missing),
        );
        (template, problems)
    }

    /// The template's source text (placeholders and doubled braces as written).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The placeholders in order of appearance (repeats included).
    pub fn placeholders(&self) -> impl Iterator<Item = Placeholder> + '_ {
        self.segments.iter().filter_map(|segment| match segment {
            Segment::Placeholder(placeholder) => Some(*placeholder),
            Segment::Literal(_) => None,
        })
    }

    /// Whether the template uses `placeholder`.
    pub fn contains(&self, placeholder: Placeholder) -> bool {
        self.placeholders().any(|used| used == placeholder)
    }

    /// The parsed pieces, for rendering.
    pub(super) fn segments(&self) -> &[Segment] {
        &self.segments
    }
}

/// Python's `str.format` field names that are plain keyword arguments: ASCII identifiers.
fn is_identifier(field: &str) -> bool {
    let mut characters = field.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|rest| rest.is_ascii_alphanumeric() || rest == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, task: Task, kind: TemplateKind) -> Result<Template, TemplateProblem> {
        Template::parse(text.to_owned(), task, kind)
    }

    #[test]
    fn doubled_braces_are_literals_and_names_are_placeholders() {
        let template = parse(
            "{{json}} {responseA}}}{{{responseB}",
            Task::TextToText,
            TemplateKind::User,
        )
        .expect("valid template");
        assert_eq!(
            template.segments(),
            [
                Segment::Literal("{json} ".to_owned()),
                Segment::Placeholder(Placeholder::ResponseA),
                Segment::Literal("}{".to_owned()),
                Segment::Placeholder(Placeholder::ResponseB),
            ]
        );
        assert_eq!(template.text(), "{{json}} {responseA}}}{{{responseB}");
    }

    #[test]
    fn placeholders_are_checked_per_task_and_kind() {
        assert!(
            parse(
                "{image}{responseA}{responseB}",
                Task::TextImageToText,
                TemplateKind::User
            )
            .is_ok()
        );
        let refused = parse(
            "{image}{responseA}{responseB}",
            Task::TextToText,
            TemplateKind::User,
        );
        assert!(
            matches!(&refused, Err(TemplateProblem::Unknown { name, .. }) if name == "image"),
            "{refused:?}"
        );
        let refused = parse(
            "{prompt} {criteria}",
            Task::TextToText,
            TemplateKind::System,
        );
        assert!(
            matches!(&refused, Err(TemplateProblem::Unknown { name, .. }) if name == "prompt"),
            "{refused:?}"
        );
        assert_eq!(
            parse("judge well", Task::TextToText, TemplateKind::SystemWithTies),
            Err(TemplateProblem::Missing(Placeholder::Criteria))
        );
        assert_eq!(
            parse("{prompt}{responseA}", Task::TextToText, TemplateKind::User),
            Err(TemplateProblem::Missing(Placeholder::ResponseB))
        );
    }

    #[test]
    fn malformed_braces_are_refused() {
        for text in [
            "{criteria",
            "criteria}",
            "{}",
            "{0}",
            "{criteria!r}",
            "{criteria:>9}",
            "{a{b}}",
        ] {
            let result = parse(text, Task::TextToText, TemplateKind::System);
            assert!(
                matches!(result, Err(TemplateProblem::Syntax(_))),
                "{text}: {result:?}"
            );
        }
    }
}
