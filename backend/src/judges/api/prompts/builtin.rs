//! Our template set `omnireward-v1`, embedded from `backend/assets/prompts/omnireward-v1/` at
//! build time so the binary needs no files on disk.

use omnireward_shared::Task;

/// Name of the embedded set (also its folder name under `assets/prompts/`).
pub(super) const NAME: &str = "omnireward-v1";

macro_rules! task_files {
    ($task:expr, $key:literal) => {
        (
            $task,
            [
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/assets/prompts/omnireward-v1/",
                    $key,
                    "/system.txt"
                )),
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/assets/prompts/omnireward-v1/",
                    $key,
                    "/system_with_ties.txt"
                )),
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/assets/prompts/omnireward-v1/",
                    $key,
                    "/user.txt"
                )),
            ],
        )
    };
}

/// Per task: the system, system-with-ties and user template texts, in `TemplateKind::ALL` order.
pub(super) const FILES: [(Task, [&str; 3]); 9] = [
    task_files!(Task::TextToText, "text_to_text"),
    task_files!(Task::TextImageToText, "text_image_to_text"),
    task_files!(Task::TextVideoToText, "text_video_to_text"),
    task_files!(Task::TextAudioToText, "text_audio_to_text"),
    task_files!(Task::TextToImage, "text_to_image"),
    task_files!(Task::TextToVideo, "text_to_video"),
    task_files!(Task::TextToAudio, "text_to_audio"),
    task_files!(Task::TextTo3d, "text_to_3D"),
    task_files!(Task::TextImageToImage, "text_image_to_image"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_is_embedded_once_under_its_key() {
        let tasks: Vec<Task> = FILES.iter().map(|(task, _)| *task).collect();
        assert_eq!(tasks, Task::ALL);
    }

    #[test]
    fn each_task_embeds_the_files_under_its_own_key() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets/prompts")
            .join(NAME);
        for (task, texts) in FILES {
            for (file_name, text) in ["system.txt", "system_with_ties.txt", "user.txt"]
                .into_iter()
                .zip(texts)
            {
                let on_disk = std::fs::read_to_string(root.join(task.key()).join(file_name))
                    .expect("template file");
                assert_eq!(on_disk, text, "{task} {file_name}");
            }
        }
    }
}
