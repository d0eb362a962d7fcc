//! What a local model can see of each task.
//!
//! Text reward models read text: text-response tasks are covered, and where the prompt carries
//! an image, video or audio clip they are scored on the prompt's text alone (the run record and
//! the leaderboard say so). Image-text models (CLIP, SigLIP) compare the criterion and prompt with
//! image responses (T2I, 3D renders, TI2I edits) and video frames (T2V). Vision-language reward
//! models (Qwen2-VL, Qwen2.5-VL) read conversations with images: T2T, TI2T with its image, and
//! the image responses of T2I, T23D and TI2I (its source image too); video (TV2T, T2V) is not
//! read yet and audio never (no audio tower). Everything else is not covered and is left out of
//! the overall score's coverage rather than guessed.

use omnireward_local_judge::architecture::ModelKind;
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

/// The coverage of `task` for a model of this kind.
pub fn coverage(kind: ModelKind, task: Task) -> Coverage {
    match kind {
        ModelKind::EncoderClassifier | ModelKind::DecoderClassifier | ModelKind::TextEmbedding => {
            match task {
                Task::TextToText => Coverage::Full,
                Task::TextImageToText | Task::TextVideoToText | Task::TextAudioToText => {
                    Coverage::TextOnlyPrompt
                }
                _ => Coverage::NotCovered,
            }
        }
        ModelKind::ImageText => match task {
            Task::TextToImage | Task::TextToVideo | Task::TextTo3d => Coverage::Full,
            Task::TextImageToImage => Coverage::TextOnlyPrompt,
            _ => Coverage::NotCovered,
        },
        ModelKind::MultimodalConversation => match task {
            Task::TextToText
            | Task::TextImageToText
            | Task::TextVideoToText
            | Task::TextToImage
            | Task::TextToVideo
            | Task::TextTo3d
            | Task::TextImageToImage => Coverage::Full,
            Task::TextAudioToText | Task::TextToAudio => Coverage::NotCovered,
        },
        ModelKind::OmniConversation => Coverage::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(kind: ModelKind) -> Vec<Task> {
        Task::ALL
            .into_iter()
            .filter(|task| coverage(kind, *task) != Coverage::NotCovered)
            .collect()
    }

    #[test]
    fn text_and_image_models_cover_complementary_tasks() {
        assert_eq!(covered(ModelKind::DecoderClassifier).len(), 4);
        assert_eq!(covered(ModelKind::ImageText).len(), 4);
        for task in Task::ALL {
            assert!(
                coverage(ModelKind::EncoderClassifier, task) == Coverage::NotCovered
                    || coverage(ModelKind::ImageText, task) == Coverage::NotCovered,
                "{task} covered by both"
            );
        }
        assert_eq!(
            coverage(ModelKind::ImageText, Task::TextToAudio),
            Coverage::NotCovered
        );
        assert_eq!(
            coverage(ModelKind::TextEmbedding, Task::TextToAudio),
            Coverage::NotCovered
        );
    }

    #[test]
    fn vision_language_models_see_every_image_and_video_task_and_no_audio() {
        let images = [
            Task::TextToText,
            Task::TextImageToText,
            Task::TextVideoToText,
            Task::TextToImage,
            Task::TextToVideo,
            Task::TextTo3d,
            Task::TextImageToImage,
        ];
        let mut seen = covered(ModelKind::MultimodalConversation);
        seen.sort();
        let mut expected = images.to_vec();
        expected.sort();
        assert_eq!(seen, expected);
        for task in images {
            assert_eq!(
                coverage(ModelKind::MultimodalConversation, task),
                Coverage::Full,
                "{task}: the prompt's image or video is read too"
            );
        }
    }

    #[test]
    fn omni_models_see_all_nine_tasks() {
        let mut seen = covered(ModelKind::OmniConversation);
        seen.sort();
        let mut all = Task::ALL.to_vec();
        all.sort();
        assert_eq!(seen, all);
    }
}
