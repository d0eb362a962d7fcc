//! Generative-judge prompt templates: our embedded set `omnireward-v1`, sets loaded from a
//! folder (our layout or the authors' `utils/prompts/*.py`), and rendering of one sample into a
//! system prompt and a user message whose media sit in named slots.
//!
//! Protocol: `docs/benchmark.md` section 4; reference harness:
//! <https://github.com/HongbangYuan/OmniReward/blob/main/evaluation_experiments/run_exp.py>.

mod builtin;
mod load;
mod python_source;
mod template;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use omnireward_shared::{MediaRef, Order, Response, Sample, Setting, Task};
use sha2::{Digest, Sha256};

pub use template::{Placeholder, Template, TemplateKind};
use template::{Segment, TemplateProblem};

/// Where a template came from: a file and, for Python sources, the line of its assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    /// The file (embedded templates use `<embedded>/omnireward-v1/...`).
    pub file: PathBuf,
    /// 1-based line, for Python sources.
    pub line: Option<usize>,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(formatter, ":{line}")?;
        }
        Ok(())
    }
}

/// Why a template set could not be loaded or a prompt rendered.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The folder holds neither layout, or its files yield no template at all.
    #[error(
        "{folder}: no prompt templates found: expected <task key>/system.txt, \
         system_with_ties.txt and user.txt, or the authors' <task key>.py files"
    )]
    NoTemplates {
        /// The folder.
        folder: PathBuf,
    },
    /// The folder holds both layouts, so which one is meant is unclear.
    #[error("{folder}: holds both <task key>/ folders and <task key>.py files; keep one layout")]
    MixedLayouts {
        /// The folder.
        folder: PathBuf,
    },
    /// Some but not all of a task's three template files are present.
    #[error("{file}: missing or empty, while other templates of task {task} are present")]
    MissingFile {
        /// The expected file.
        file: PathBuf,
        /// The task.
        task: Task,
    },
    /// A Python file could not be read as the supported subset of Python.
    #[error("{location}: {message}")]
    PythonSource {
        /// File and line.
        location: SourceLocation,
        /// What is wrong.
        message: String,
    },
    /// A non-empty Python file lacks one of the three template assignments.
    #[error("{file}: no module-level string assignment to `{variable}`")]
    MissingPythonTemplate {
        /// The Python file.
        file: PathBuf,
        /// The variable (`system_prompt_template`, ...).
        variable: &'static str,
    },
    /// Malformed braces or an unsupported placeholder form.
    #[error("{location}: {kind} template of {task}: {message}")]
    TemplateSyntax {
        /// Where the template came from.
        location: SourceLocation,
        /// The task.
        task: Task,
        /// The template kind (`system`, `system_with_ties`, `user`).
        kind: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A placeholder the task does not provide.
    #[error(
        "{location}: unknown placeholder `{{{placeholder}}}` in the {kind} template of {task} \
         (allowed: {allowed})"
    )]
    UnknownPlaceholder {
        /// Where the template came from.
        location: SourceLocation,
        /// The task.
        task: Task,
        /// The template kind.
        kind: &'static str,
        /// The name between the braces.
        placeholder: String,
        /// The allowed names, comma-separated.
        allowed: String,
    },
    /// A required placeholder is absent.
    #[error("{location}: the {kind} template of {task} must contain `{{{placeholder}}}`")]
    MissingPlaceholder {
        /// Where the template came from.
        location: SourceLocation,
        /// The task.
        task: Task,
        /// The template kind.
        kind: &'static str,
        /// The missing placeholder's name.
        placeholder: &'static str,
    },
    /// A sample of a task with prompt media (TI2T, TV2T, TA2T, TI2I) carries none.
    #[error("sample {sample_id} of task {task} has no prompt media, which its prompt needs")]
    MissingPromptMedia {
        /// The task.
        task: Task,
        /// The sample's id.
        sample_id: String,
    },
    /// The set has no templates for the task (sets built by this module always have all nine).
    #[error("prompt set {set} has no templates for task {task}")]
    MissingTask {
        /// The set's name.
        set: String,
        /// The task.
        task: Task,
    },
}

/// The three templates of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskTemplates {
    system: Template,
    system_with_ties: Template,
    user: Template,
}

impl TaskTemplates {
    /// The template of `kind`.
    pub fn get(&self, kind: TemplateKind) -> &Template {
        match kind {
            TemplateKind::System => &self.system,
            TemplateKind::SystemWithTies => &self.system_with_ties,
            TemplateKind::User => &self.user,
        }
    }

    /// Parses and checks a task's three texts, given in [`TemplateKind::ALL`] order.
    fn parse(task: Task, sources: [TemplateSource; 3]) -> Result<TaskTemplates, PromptError> {
        let [system, system_with_ties, user] = sources;
        Ok(TaskTemplates {
            system: system.parse(task, TemplateKind::System)?,
            system_with_ties: system_with_ties.parse(task, TemplateKind::SystemWithTies)?,
            user: user.parse(task, TemplateKind::User)?,
        })
    }
}

/// A template text before checking, with where it came from.
struct TemplateSource {
    text: String,
    location: SourceLocation,
}

impl TemplateSource {
    fn parse(self, task: Task, kind: TemplateKind) -> Result<Template, PromptError> {
        let location = self.location;
        Template::parse(self.text, task, kind).map_err(|problem| match problem {
            TemplateProblem::Syntax(message) => PromptError::TemplateSyntax {
                location,
                task,
                kind: kind.key(),
                message,
            },
            TemplateProblem::Unknown { name, allowed } => PromptError::UnknownPlaceholder {
                location,
                task,
                kind: kind.key(),
                placeholder: name,
                allowed: allowed
                    .iter()
                    .map(|placeholder| placeholder.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            },
            TemplateProblem::Missing(placeholder) => PromptError::MissingPlaceholder {
                location,
                task,
                kind: kind.key(),
                placeholder: placeholder.name(),
            },
        })
    }
}

/// Python reads source with universal newlines, and a Windows checkout may turn our files into
/// CRLF; normalising keeps the set hash the same everywhere.
fn normalise_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A complete, checked template set: three templates for each of the nine tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromptSet {
    /// Name recorded with runs: `omnireward-v1` for ours, the folder name for a loaded set.
    pub name: String,
    /// SHA-256 (hex) over every template: for each task in [`Task::ALL`] order and each kind in
    /// [`TemplateKind::ALL`] order, `task key \n kind key \n byte length \n text \n`. The name
    /// is not part of it, so the same templates hash the same wherever they were loaded from.
    pub hash: String,
    /// Tasks for which a loaded set had no templates, so ours were used.
    pub fallback_tasks: Vec<Task>,
    templates: BTreeMap<Task, TaskTemplates>,
}

impl PromptSet {
    /// Our embedded set `omnireward-v1`. The embedded files are parsed without checks so this
    /// cannot fail; a test parses them strictly.
    pub fn builtin() -> PromptSet {
        let templates = builtin::FILES
            .into_iter()
            .map(|(task, [system, system_with_ties, user])| {
                let parse = |text: &str, kind| {
                    Template::parse_trusted(normalise_newlines(text), task, kind)
                };
                let task_templates = TaskTemplates {
                    system: parse(system, TemplateKind::System),
                    system_with_ties: parse(system_with_ties, TemplateKind::SystemWithTies),
                    user: parse(user, TemplateKind::User),
                };
                (task, task_templates)
            })
            .collect();
        PromptSet::assemble(builtin::NAME.to_owned(), templates, Vec::new())
    }

    /// Builds a set and computes its hash.
    fn assemble(
        name: String,
        templates: BTreeMap<Task, TaskTemplates>,
        fallback_tasks: Vec<Task>,
    ) -> PromptSet {
        let mut hasher = Sha256::new();
        for task in Task::ALL {
            let Some(task_templates) = templates.get(&task) else {
                continue;
            };
            for kind in TemplateKind::ALL {
                let text = task_templates.get(kind).text();
                hasher.update(format!("{}\n{}\n{}\n", task.key(), kind.key(), text.len()));
                hasher.update(text);
                hasher.update("\n");
            }
        }
        PromptSet {
            name,
            hash: hex::encode(hasher.finalize()),
            fallback_tasks,
            templates,
        }
    }

    /// The templates of `task` (every set built here has all nine tasks).
    pub fn templates(&self, task: Task) -> Option<&TaskTemplates> {
        self.templates.get(&task)
    }

    /// Renders `sample` for `setting`, showing its responses in `order`.
    ///
    /// Text responses are written into the A/B slots (Swapped puts `response2` in A); media
    /// responses and the prompt media become [`UserPart::Media`] slots that the caller maps to
    /// files with [`MediaSlot::resolve`]. When the user template has no placeholder for the
    /// task's prompt media, the media goes at the end of the message, as the reference harness
    /// does for TV2T.
    pub fn render(
        &self,
        sample: &Sample,
        setting: Setting,
        order: Order,
    ) -> Result<RenderedPrompt, PromptError> {
        let task = sample.task;
        let templates = self
            .templates(task)
            .ok_or_else(|| PromptError::MissingTask {
                set: self.name.clone(),
                task,
            })?;
        let prompt_media = Placeholder::prompt_media(task);
        if prompt_media.is_some() && sample.prompt_media.is_none() {
            return Err(PromptError::MissingPromptMedia {
                task,
                sample_id: sample.id.clone(),
            });
        }
        let system_template = match setting {
            Setting::WithTies => &templates.system_with_ties,
            Setting::WithoutTies => &templates.system,
        };
        let mut system = String::new();
        for segment in system_template.segments() {
            match segment {
                Segment::Literal(text) => system.push_str(text),
                Segment::Placeholder(Placeholder::Criteria) => system.push_str(&sample.criterion),
                // Load-time checks allow only `{criteria}` in system templates.
                Segment::Placeholder(_) => {}
            }
        }

        let (shown_a, shown_b) = shown_responses(sample, order);
        let mut user = UserParts::default();
        for segment in templates.user.segments() {
            match segment {
                Segment::Literal(text) => user.text(text),
                Segment::Placeholder(placeholder) => match placeholder {
                    Placeholder::Prompt => user.text(&sample.prompt),
                    Placeholder::Criteria => user.text(&sample.criterion),
                    Placeholder::ResponseA => user.response(shown_a, MediaSlot::ResponseA),
                    Placeholder::ResponseB => user.response(shown_b, MediaSlot::ResponseB),
                    Placeholder::Image
                    | Placeholder::OriginalImage
                    | Placeholder::Video
                    | Placeholder::Audio => user.media(MediaSlot::PromptMedia),
                },
            }
        }
        if let Some(placeholder) = prompt_media
            && !templates.user.contains(placeholder)
        {
            user.media(MediaSlot::PromptMedia);
        }
        Ok(RenderedPrompt {
            system,
            user: user.finish(),
        })
    }
}

/// The responses shown as A and B.
fn shown_responses(sample: &Sample, order: Order) -> (&Response, &Response) {
    match order {
        Order::Original => (&sample.response1, &sample.response2),
        Order::Swapped => (&sample.response2, &sample.response1),
    }
}

/// Collects user parts, merging adjacent text.
#[derive(Default)]
struct UserParts {
    parts: Vec<UserPart>,
}

impl UserParts {
    fn text(&mut self, text: &str) {
        if let Some(UserPart::Text(last)) = self.parts.last_mut() {
            last.push_str(text);
        } else {
            self.parts.push(UserPart::Text(text.to_owned()));
        }
    }

    fn media(&mut self, slot: MediaSlot) {
        self.parts.push(UserPart::Media(slot));
    }

    fn response(&mut self, response: &Response, slot: MediaSlot) {
        match response {
            Response::Text { text } => self.text(text),
            Response::Media { .. } => self.media(slot),
        }
    }

    /// The reference harness sends no text chunk made only of spaces and line breaks (the
    /// leftovers between two media), so neither do we.
    fn finish(self) -> Vec<UserPart> {
        self.parts
            .into_iter()
            .filter(|part| match part {
                UserPart::Text(text) => !text
                    .chars()
                    .all(|character| matches!(character, ' ' | '\n')),
                UserPart::Media(_) => true,
            })
            .collect()
    }
}

/// A rendered prompt: the system message and the parts of the user message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedPrompt {
    /// The system prompt, criterion inserted.
    pub system: String,
    /// The user message: text and media slots, in order.
    pub user: Vec<UserPart>,
}

impl RenderedPrompt {
    /// The whole user message as text, each media slot shown as a token such as
    /// `<response_A>` (for logs and tests).
    pub fn text_only(&self) -> String {
        self.user
            .iter()
            .map(|part| match part {
                UserPart::Text(text) => text.as_str(),
                UserPart::Media(slot) => slot.token(),
            })
            .collect()
    }
}

/// One part of a rendered user message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserPart {
    /// Text, sent as is.
    Text(String),
    /// A media item, to be encoded by the request builder.
    Media(MediaSlot),
}

/// Which media item a [`UserPart::Media`] stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaSlot {
    /// The sample's prompt media (image, video or audio).
    PromptMedia,
    /// The response shown as A (`response1` in the original order).
    ResponseA,
    /// The response shown as B (`response2` in the original order).
    ResponseB,
}

impl MediaSlot {
    /// The token [`RenderedPrompt::text_only`] shows for this slot.
    pub fn token(self) -> &'static str {
        match self {
            MediaSlot::PromptMedia => "<prompt_media>",
            MediaSlot::ResponseA => "<response_A>",
            MediaSlot::ResponseB => "<response_B>",
        }
    }

    /// The media item this slot stands for, given the order the prompt was rendered in.
    pub fn resolve(self, sample: &Sample, order: Order) -> Option<&MediaRef> {
        let (shown_a, shown_b) = shown_responses(sample, order);
        match self {
            MediaSlot::PromptMedia => sample.prompt_media.as_ref(),
            MediaSlot::ResponseA => shown_a.media(),
            MediaSlot::ResponseB => shown_b.media(),
        }
    }
}

#[cfg(test)]
mod tests {
    use omnireward_shared::{Label, MediaKind, MediaLocation, Modality};

    use super::*;

    fn media(name: &str, kind: MediaKind) -> MediaRef {
        MediaRef {
            kind,
            name: name.to_owned(),
            location: MediaLocation::File {
                path: name.to_owned(),
            },
        }
    }

    fn media_kind(modality: Modality) -> MediaKind {
        match modality {
            Modality::Video => MediaKind::Video,
            Modality::Audio => MediaKind::Audio,
            _ => MediaKind::Image,
        }
    }

    /// A sample of `task` with the modalities the task has.
    fn sample(task: Task) -> Sample {
        let response = |index: u8| match task.response_modality() {
            Modality::Text => Response::Text {
                text: format!("answer {index}"),
            },
            modality => Response::Media {
                media: media(&format!("response{index}"), media_kind(modality)),
            },
        };
        Sample {
            id: "row-7".to_owned(),
            task,
            prompt: "Describe {the} cat".to_owned(),
            prompt_media: task
                .prompt_media()
                .map(|modality| media("prompt-media", media_kind(modality))),
            response1: response(1),
            response2: response(2),
            criterion: "Prefer the answer that {names} the colour.".to_owned(),
            label: Label::Response1,
            model1: None,
            model2: None,
        }
    }

    #[test]
    fn builtin_set_has_every_template_with_the_right_verdict_tokens() {
        let set = PromptSet::builtin();
        assert_eq!(set.name, "omnireward-v1");
        assert!(set.fallback_tasks.is_empty());
        assert_eq!(set.hash.len(), 64);
        for task in Task::ALL {
            let templates = set.templates(task).expect("all nine tasks");
            for kind in TemplateKind::ALL {
                let text = templates.get(kind).text();
                assert!(!text.trim().is_empty(), "{task} {kind:?}");
                if kind == TemplateKind::User {
                    assert!(text.starts_with("[[PROMPT]]\n{prompt}\n[[END OF PROMPT]]"));
                    continue;
                }
                assert!(text.contains("{criteria}"), "{task} {kind:?}");
                assert!(
                    text.contains("[[A]]") && text.contains("[[B]]"),
                    "{task} {kind:?}"
                );
                assert_eq!(
                    text.contains("[[C]]"),
                    kind == TemplateKind::SystemWithTies,
                    "{task} {kind:?}"
                );
                assert!(text.contains("random order"), "{task} {kind:?}");
            }
        }
    }

    #[test]
    fn builtin_user_templates_use_the_tasks_placeholders() {
        let set = PromptSet::builtin();
        for task in Task::ALL {
            let user = set
                .templates(task)
                .expect("all nine tasks")
                .get(TemplateKind::User);
            let used: Vec<Placeholder> = user.placeholders().collect();
            let mut expected = vec![Placeholder::Prompt];
            expected.extend(Placeholder::prompt_media(task));
            expected.extend([Placeholder::ResponseA, Placeholder::ResponseB]);
            assert_eq!(used, expected, "{task}");
        }
        let image_edit = set
            .templates(Task::TextImageToImage)
            .expect("task")
            .get(TemplateKind::User)
            .text();
        assert!(
            image_edit.contains("[[ORIGINAL_IMAGE]]\n{original_image}\n[[END OF ORIGINAL_IMAGE]]")
        );
    }

    #[test]
    fn embedded_files_pass_the_strict_checks() {
        let set = PromptSet::builtin();
        for (task, texts) in builtin::FILES {
            let templates = set.templates(task).expect("all nine tasks");
            for (kind, text) in TemplateKind::ALL.into_iter().zip(texts) {
                let strict = Template::parse(normalise_newlines(text), task, kind);
                assert_eq!(strict.as_ref(), Ok(templates.get(kind)), "{task} {kind:?}");
            }
        }
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(PromptSet::builtin().hash, PromptSet::builtin().hash);
    }

    #[test]
    fn text_responses_follow_the_order() {
        let set = PromptSet::builtin();
        for task in Task::ALL
            .into_iter()
            .filter(|task| task.response_modality() == Modality::Text)
        {
            let sample = sample(task);
            for (order, first, second) in [
                (Order::Original, "answer 1", "answer 2"),
                (Order::Swapped, "answer 2", "answer 1"),
            ] {
                let rendered = set
                    .render(&sample, Setting::WithoutTies, order)
                    .expect("renders");
                let text = rendered.text_only();
                assert!(
                    text.contains(&format!("[[RESPONSE A]]\n{first}\n[[END OF RESPONSE A]]")),
                    "{task} {order:?}: {text}"
                );
                assert!(
                    text.contains(&format!("[[RESPONSE B]]\n{second}\n[[END OF RESPONSE B]]")),
                    "{task} {order:?}: {text}"
                );
                // Braces inside values are data, never placeholders.
                assert!(text.contains("Describe {the} cat"));
                assert!(
                    rendered
                        .system
                        .contains("Prefer the answer that {names} the colour.")
                );
                let media: Vec<MediaSlot> = rendered
                    .user
                    .iter()
                    .filter_map(|part| match part {
                        UserPart::Media(slot) => Some(*slot),
                        UserPart::Text(_) => None,
                    })
                    .collect();
                let expected: &[MediaSlot] = match task.prompt_media() {
                    Some(_) => &[MediaSlot::PromptMedia],
                    None => &[],
                };
                assert_eq!(media, expected, "{task}");
            }
        }
    }

    #[test]
    fn media_responses_become_slots_that_resolve_through_the_order() {
        let set = PromptSet::builtin();
        for task in Task::ALL
            .into_iter()
            .filter(|task| task.response_modality() != Modality::Text)
        {
            let sample = sample(task);
            for order in [Order::Original, Order::Swapped] {
                let rendered = set
                    .render(&sample, Setting::WithTies, order)
                    .expect("renders");
                let slots: Vec<MediaSlot> = rendered
                    .user
                    .iter()
                    .filter_map(|part| match part {
                        UserPart::Media(slot) => Some(*slot),
                        UserPart::Text(_) => None,
                    })
                    .collect();
                let mut expected = Vec::new();
                if task.prompt_media().is_some() {
                    expected.push(MediaSlot::PromptMedia);
                }
                expected.extend([MediaSlot::ResponseA, MediaSlot::ResponseB]);
                assert_eq!(slots, expected, "{task}");
                // Text and media alternate: adjacent text was merged.
                assert!(
                    rendered
                        .user
                        .windows(2)
                        .all(|pair| !matches!(pair, [UserPart::Text(_), UserPart::Text(_)]))
                );
                let (first, second) = match order {
                    Order::Original => ("response1", "response2"),
                    Order::Swapped => ("response2", "response1"),
                };
                let name = |slot: MediaSlot| slot.resolve(&sample, order).map(|m| m.name.clone());
                assert_eq!(name(MediaSlot::ResponseA).as_deref(), Some(first));
                assert_eq!(name(MediaSlot::ResponseB).as_deref(), Some(second));
                assert!(rendered.system.contains("[[C]]"));
            }
        }
    }

    #[test]
    fn image_to_text_layout_renders_in_block_order() {
        let rendered = PromptSet::builtin()
            .render(
                &sample(Task::TextImageToText),
                Setting::WithoutTies,
                Order::Original,
            )
            .expect("renders");
        assert_eq!(
            rendered.user,
            [
                UserPart::Text(
                    "[[PROMPT]]\nDescribe {the} cat\n[[END OF PROMPT]]\n\n[[IMAGE]]\n".to_owned()
                ),
                UserPart::Media(MediaSlot::PromptMedia),
                UserPart::Text(
                    "\n[[END OF IMAGE]]\n\n[[RESPONSE A]]\nanswer 1\n[[END OF RESPONSE A]]\n\n\
                     [[RESPONSE B]]\nanswer 2\n[[END OF RESPONSE B]]\n"
                        .to_owned()
                ),
            ]
        );
        assert!(!rendered.system.contains("[[C]]"));
        assert!(
            rendered
                .system
                .contains("\n\nPrefer the answer that {names} the colour.\n\n")
        );
    }

    #[test]
    fn missing_prompt_media_is_an_error() {
        let mut sample = sample(Task::TextVideoToText);
        sample.prompt_media = None;
        let error = PromptSet::builtin()
            .render(&sample, Setting::WithTies, Order::Original)
            .expect_err("needs a video");
        assert!(error.to_string().contains("row-7"), "{error}");
    }
}
