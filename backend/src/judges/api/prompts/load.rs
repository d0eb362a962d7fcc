//! Loads a template set from a folder (`--prompts DIR`) in our layout
//! (`<task key>/{system,system_with_ties,user}.txt`) or the authors' (`<task key>.py`), and
//! writes a set out in our layout.
//!
//! A task with no templates at all falls back to ours and is listed in `fallback_tasks`: the
//! authors' two audio tasks have empty files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use omnireward_shared::Task;

use super::python_source::read_string_assignments;
use super::{
    PromptError, PromptSet, SourceLocation, TaskTemplates, TemplateKind, TemplateSource,
    normalise_newlines,
};

/// What a folder yields for one task.
enum TaskSource {
    /// The three templates, in [`TemplateKind::ALL`] order.
    Found([TemplateSource; 3]),
    /// Nothing: use ours.
    Absent,
}

impl PromptSet {
    /// Loads the set in `folder`: our layout or the authors' Python files. Every template is
    /// checked; tasks without templates fall back to ours.
    pub fn load(folder: &Path) -> Result<PromptSet, PromptError> {
        let metadata = std::fs::metadata(folder).map_err(|source| PromptError::Io {
            path: folder.to_owned(),
            source,
        })?;
        if !metadata.is_dir() {
            return Err(PromptError::Io {
                path: folder.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a folder"),
            });
        }
        let ours = Task::ALL
            .into_iter()
            .any(|task| folder.join(task.key()).is_dir());
        let python = Task::ALL
            .into_iter()
            .any(|task| python_file(folder, task).is_file());
        let read_task: fn(&Path, Task) -> Result<TaskSource, PromptError> = match (ours, python) {
            (true, true) => {
                return Err(PromptError::MixedLayouts {
                    folder: folder.to_owned(),
                });
            }
            (true, false) => read_our_task,
            (false, true) => read_python_task,
            (false, false) => {
                return Err(PromptError::NoTemplates {
                    folder: folder.to_owned(),
                });
            }
        };

        let mut builtin = None;
        let mut templates = BTreeMap::new();
        let mut fallback_tasks = Vec::new();
        for task in Task::ALL {
            let task_templates = match read_task(folder, task)? {
                TaskSource::Found(sources) => TaskTemplates::parse(task, sources)?,
                TaskSource::Absent => {
                    fallback_tasks.push(task);
                    let builtin = match &mut builtin {
                        Some(builtin) => builtin,
                        None => builtin.insert(PromptSet::builtin()),
                    };
                    builtin
                        .templates
                        .remove(&task)
                        .ok_or_else(|| PromptError::MissingTask {
                            set: builtin.name.clone(),
                            task,
                        })?
                }
            };
            templates.insert(task, task_templates);
        }
        if fallback_tasks.len() == Task::ALL.len() {
            return Err(PromptError::NoTemplates {
                folder: folder.to_owned(),
            });
        }
        Ok(PromptSet::assemble(
            folder_name(folder),
            templates,
            fallback_tasks,
        ))
    }

    /// Writes the set in our layout under `folder` (created if needed), e.g. to start editing a
    /// copy of ours. Loading the folder again gives the same hash.
    pub fn write_to(&self, folder: &Path) -> Result<(), PromptError> {
        for (task, task_templates) in &self.templates {
            let task_folder = folder.join(task.key());
            std::fs::create_dir_all(&task_folder).map_err(|source| PromptError::Io {
                path: task_folder.clone(),
                source,
            })?;
            for kind in TemplateKind::ALL {
                let file = task_folder.join(kind.file_name());
                std::fs::write(&file, task_templates.get(kind).text())
                    .map_err(|source| PromptError::Io { path: file, source })?;
            }
        }
        Ok(())
    }
}

fn python_file(folder: &Path, task: Task) -> PathBuf {
    folder.join(format!("{}.py", task.key()))
}

/// The set's name: the folder's own name, resolving `.` and the like.
fn folder_name(folder: &Path) -> String {
    let own_name = |path: &Path| {
        path.file_name()
            .map(|name| name.to_string_lossy().into_owned())
    };
    own_name(folder)
        .or_else(|| own_name(&folder.canonicalize().ok()?))
        .unwrap_or_else(|| folder.display().to_string())
}

/// Reads a file, treating a missing file like an empty one.
fn read_optional(file: &Path) -> Result<Option<String>, PromptError> {
    match std::fs::read_to_string(file) {
        Ok(text) => Ok(Some(normalise_newlines(&text))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PromptError::Io {
            path: file.to_owned(),
            source,
        }),
    }
}

fn read_our_task(folder: &Path, task: Task) -> Result<TaskSource, PromptError> {
    let task_folder = folder.join(task.key());
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for kind in TemplateKind::ALL {
        let file = task_folder.join(kind.file_name());
        match read_optional(&file)? {
            Some(text) if !text.trim().is_empty() => present.push(TemplateSource {
                text,
                location: SourceLocation { file, line: None },
            }),
            _ => absent.push(file),
        }
    }
    match <[TemplateSource; 3]>::try_from(present) {
        Ok(sources) => Ok(TaskSource::Found(sources)),
        Err(present) if present.is_empty() => Ok(TaskSource::Absent),
        Err(_) => Err(PromptError::MissingFile {
            file: absent.into_iter().next().unwrap_or(task_folder),
            task,
        }),
    }
}

fn read_python_task(folder: &Path, task: Task) -> Result<TaskSource, PromptError> {
    let file = python_file(folder, task);
    let Some(source) = read_optional(&file)? else {
        return Ok(TaskSource::Absent);
    };
    let variables = TemplateKind::ALL.map(TemplateKind::python_variable);
    let mut module = read_string_assignments(&source, &variables).map_err(|error| {
        PromptError::PythonSource {
            location: SourceLocation {
                file: file.clone(),
                line: Some(error.line),
            },
            message: error.message,
        }
    })?;
    if !module.has_statements {
        return Ok(TaskSource::Absent);
    }
    let mut take = |variable: &'static str| {
        module
            .assignments
            .remove(variable)
            .map(|assignment| TemplateSource {
                text: assignment.value,
                location: SourceLocation {
                    file: file.clone(),
                    line: Some(assignment.line),
                },
            })
            .ok_or_else(|| PromptError::MissingPythonTemplate {
                file: file.clone(),
                variable,
            })
    };
    let [system, system_with_ties, user] = variables;
    Ok(TaskSource::Found([
        take(system)?,
        take(system_with_ties)?,
        take(user)?,
    ]))
}

#[cfg(test)]
mod tests {
    use omnireward_shared::{Label, Order, Response, Sample, Setting};

    use super::super::{MediaSlot, UserPart};
    use super::*;

    /// An authors'-style module exercising the literal forms the reader supports.
    const FIXTURE: &str = r#"# Prompt templates in the authors' style.
import os

system_prompt_template = """
Judge by this criterion:\n\n{criteria}\n
Answer \"[[A]]\" or \"[[B]]\".
"""

system_prompt_template_with_tie = (
    "Judge by {criteria}. "
    'It\'s fine to answer [[C]]; '
    r"raw \d and \n stay"
)

prompt_template = '''[[PROMPT]]
{prompt}
[[END OF PROMPT]]
[[RESPONSE A]]\t{responseA}
[[RESPONSE B]]
{responseB} {{literal}}\
'''
"#;

    fn write(folder: &Path, name: &str, text: &str) {
        std::fs::write(folder.join(name), text).expect("write fixture");
    }

    fn text_sample() -> Sample {
        Sample {
            id: "s1".to_owned(),
            task: Task::TextToText,
            prompt: "Why?".to_owned(),
            prompt_media: None,
            response1: Response::Text {
                text: "one".to_owned(),
            },
            response2: Response::Text {
                text: "two".to_owned(),
            },
            criterion: "Be brief.".to_owned(),
            label: Label::Response1,
            model1: None,
            model2: None,
        }
    }

    #[test]
    fn python_fixture_parses_to_the_exact_strings() {
        let folder = tempfile::tempdir().expect("temp dir");
        write(folder.path(), "text_to_text.py", FIXTURE);
        let set = PromptSet::load(folder.path()).expect("loads");
        let templates = set.templates(Task::TextToText).expect("task");
        assert_eq!(
            templates.get(TemplateKind::System).text(),
            "\nJudge by this criterion:\n\n{criteria}\n\nAnswer \"[[A]]\" or \"[[B]]\".\n"
        );
        assert_eq!(
            templates.get(TemplateKind::SystemWithTies).text(),
            "Judge by {criteria}. It's fine to answer [[C]]; raw \\d and \\n stay"
        );
        assert_eq!(
            templates.get(TemplateKind::User).text(),
            "[[PROMPT]]\n{prompt}\n[[END OF PROMPT]]\n[[RESPONSE A]]\t{responseA}\n\
             [[RESPONSE B]]\n{responseB} {{literal}}"
        );
        let rendered = set
            .render(&text_sample(), Setting::WithoutTies, Order::Swapped)
            .expect("renders");
        assert_eq!(
            rendered.text_only(),
            "[[PROMPT]]\nWhy?\n[[END OF PROMPT]]\n[[RESPONSE A]]\ttwo\n[[RESPONSE B]]\none {literal}"
        );
        assert_eq!(
            rendered.system,
            "\nJudge by this criterion:\n\nBe brief.\n\nAnswer \"[[A]]\" or \"[[B]]\".\n"
        );
    }

    #[test]
    fn empty_python_files_fall_back_to_ours() {
        let folder = tempfile::tempdir().expect("temp dir");
        write(folder.path(), "text_to_text.py", FIXTURE);
        write(folder.path(), "text_to_audio.py", "");
        write(folder.path(), "text_audio_to_text.py", "\n# empty\n");
        let set = PromptSet::load(folder.path()).expect("loads");
        let builtin = PromptSet::builtin();
        assert!(set.fallback_tasks.contains(&Task::TextToAudio));
        assert!(set.fallback_tasks.contains(&Task::TextAudioToText));
        assert!(!set.fallback_tasks.contains(&Task::TextToText));
        assert_eq!(set.fallback_tasks.len(), 8);
        assert_eq!(
            set.templates(Task::TextToAudio),
            builtin.templates(Task::TextToAudio)
        );
        assert_ne!(set.hash, builtin.hash);
        let name = folder
            .path()
            .file_name()
            .expect("named")
            .to_string_lossy()
            .into_owned();
        assert_eq!(set.name, name);
    }

    #[test]
    fn video_without_placeholder_goes_at_the_end() {
        let folder = tempfile::tempdir().expect("temp dir");
        write(folder.path(), "text_video_to_text.py", FIXTURE);
        let set = PromptSet::load(folder.path()).expect("loads");
        let mut sample = text_sample();
        sample.task = Task::TextVideoToText;
        sample.prompt_media = Some(omnireward_shared::MediaRef {
            kind: omnireward_shared::MediaKind::Video,
            name: "clip.mp4".to_owned(),
            location: omnireward_shared::MediaLocation::File {
                path: "clip.mp4".to_owned(),
            },
        });
        let rendered = set
            .render(&sample, Setting::WithTies, Order::Original)
            .expect("renders");
        assert_eq!(
            rendered.user.last(),
            Some(&UserPart::Media(MediaSlot::PromptMedia))
        );
        assert_eq!(rendered.user.len(), 2);
    }

    #[test]
    fn python_errors_name_the_file_and_line() {
        let folder = tempfile::tempdir().expect("temp dir");
        let with_f_string = FIXTURE.replace("r\"raw", "f\"raw");
        write(folder.path(), "text_to_image.py", &with_f_string);
        let error = PromptSet::load(folder.path()).expect_err("f-string");
        let message = error.to_string();
        assert!(message.contains("text_to_image.py:12:"), "{message}");
        assert!(message.contains("f-string"), "{message}");

        let without_user = FIXTURE.replace("prompt_template = '''", "other_template = '''");
        write(folder.path(), "text_to_image.py", &without_user);
        let error = PromptSet::load(folder.path()).expect_err("no prompt_template");
        let message = error.to_string();
        assert!(message.contains("text_to_image.py"), "{message}");
        assert!(message.contains("`prompt_template`"), "{message}");
    }

    #[test]
    fn unknown_placeholders_are_refused_by_name() {
        let folder = tempfile::tempdir().expect("temp dir");
        let with_image = FIXTURE.replace("{prompt}\n", "{prompt}\n{image}\n");
        write(folder.path(), "text_to_text.py", &with_image);
        let error = PromptSet::load(folder.path()).expect_err("T2T has no image");
        let message = error.to_string();
        assert!(
            matches!(&error, PromptError::UnknownPlaceholder { placeholder, .. } if placeholder == "image"),
            "{message}"
        );
        assert!(message.contains("text_to_text.py:15:"), "{message}");

        let our_layout = tempfile::tempdir().expect("temp dir");
        PromptSet::builtin()
            .write_to(our_layout.path())
            .expect("written");
        write(
            &our_layout.path().join("text_to_image"),
            "system.txt",
            "{criteria} {verdict}",
        );
        let error = PromptSet::load(our_layout.path()).expect_err("unknown placeholder");
        let message = error.to_string();
        assert!(message.contains("`{verdict}`"), "{message}");
        assert!(message.contains("system.txt"), "{message}");
    }

    #[test]
    fn hash_round_trips_through_files_and_changes_with_one_template() {
        let builtin = PromptSet::builtin();
        let parent = tempfile::tempdir().expect("temp dir");
        let folder = parent.path().join("omnireward-v1");
        builtin.write_to(&folder).expect("written");
        let loaded = PromptSet::load(&folder).expect("loads");
        assert_eq!(loaded, builtin);

        let user = folder.join("text_to_3D").join("user.txt");
        let text = std::fs::read_to_string(&user).expect("read");
        std::fs::write(&user, text.replace("[[PROMPT]]", "[[TEXT PROMPT]]")).expect("write");
        let changed = PromptSet::load(&folder).expect("loads");
        assert_ne!(changed.hash, builtin.hash);
        assert_eq!(changed.hash, PromptSet::load(&folder).expect("loads").hash);
    }

    #[test]
    fn partial_or_missing_sets_are_errors() {
        let folder = tempfile::tempdir().expect("temp dir");
        assert!(matches!(
            PromptSet::load(folder.path()),
            Err(PromptError::NoTemplates { .. })
        ));
        write(folder.path(), "text_to_audio.py", "");
        assert!(matches!(
            PromptSet::load(folder.path()),
            Err(PromptError::NoTemplates { .. })
        ));

        let ours = tempfile::tempdir().expect("temp dir");
        PromptSet::builtin().write_to(ours.path()).expect("written");
        std::fs::remove_file(ours.path().join("text_to_text").join("user.txt")).expect("remove");
        let error = PromptSet::load(ours.path()).expect_err("partial task");
        assert!(
            matches!(&error, PromptError::MissingFile { file, .. } if file.ends_with("text_to_text/user.txt")),
            "{error}"
        );
        write(ours.path(), "text_to_text.py", FIXTURE);
        assert!(matches!(
            PromptSet::load(ours.path()),
            Err(PromptError::MixedLayouts { .. })
        ));
    }
}
