//! What a local model can see of each task.
//!
//! Text reward models read text: text-response tasks are covered, and where the prompt carries
//! an image, video or audio clip they are scored on the prompt's text alone (the run record and
//! the leaderboard say so). Image-text models (CLIP, SigLIP) compare the criterion and prompt with
//! image responses (T2I, 3D renders, TI2I edits) and video frames (T2V). Everything else is not
//! covered and is left out of the overall score's coverage rather than guessed.

use omnireward_shared::Task;
use serde::Serialize;

/// How much of a task a model sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Coverage {
    /// Everything the task gives.
    Full,
    /// The responses, but of the prompt only its text (its image, video or audio is unseen).
    TextOnlyPrompt,
    /// Not scored: the responses are media the model cannot read.
    NotCovered,
}

/// The coverage of `task` for a model that reads images (`reads_images`) or text.
pub fn coverage(reads_images: bool, task: Task) -> Coverage {
    match (reads_images, task) {
        (false, Task::TextToText) => Coverage::Full,
        (false, Task::TextImageToText | Task::TextVideoToText | Task::TextAudioToText) => {
            Coverage::TextOnlyPrompt
        }
        (true, Task::TextToImage | Task::TextToVideo | Task::TextTo3d) => Coverage::Full,
        (true, Task::TextImageToImage) => Coverage::TextOnlyPrompt,
        _ => Coverage::NotCovered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_image_models_cover_complementary_tasks() {
        let covered = |reads_images| {
            Task::ALL
                .into_iter()
                .filter(|task| coverage(reads_images, *task) != Coverage::NotCovered)
                .count()
        };
        assert_eq!(covered(false), 4);
        assert_eq!(covered(true), 4);
        for task in Task::ALL {
            assert!(
                coverage(false, task) == Coverage::NotCovered
                    || coverage(true, task) == Coverage::NotCovered,
                "{task} covered by both"
            );
        }
        assert_eq!(coverage(true, Task::TextToAudio), Coverage::NotCovered);
        assert_eq!(coverage(false, Task::TextToAudio), Coverage::NotCovered);
    }
}
