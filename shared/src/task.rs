//! The nine Omni-RewardBench tasks and the five modalities they roll up into.
//!
//! The task-to-modality mapping is defined here once; every view (CLI tables, API, web app)
//! reads it from [`Task::modality`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the nine benchmark tasks, named by its Hugging Face config key.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Task {
    /// `text_to_text` (T2T): text prompt, text responses.
    #[serde(rename = "text_to_text")]
    TextToText,
    /// `text_image_to_text` (TI2T): text and image prompt, text responses.
    #[serde(rename = "text_image_to_text")]
    TextImageToText,
    /// `text_video_to_text` (TV2T): text and video prompt, text responses.
    #[serde(rename = "text_video_to_text")]
    TextVideoToText,
    /// `text_audio_to_text` (TA2T): text and audio prompt, text responses.
    #[serde(rename = "text_audio_to_text")]
    TextAudioToText,
    /// `text_to_image` (T2I): text prompt, image responses.
    #[serde(rename = "text_to_image")]
    TextToImage,
    /// `text_to_video` (T2V): text prompt, video responses.
    #[serde(rename = "text_to_video")]
    TextToVideo,
    /// `text_to_audio` (T2A): text prompt, audio responses.
    #[serde(rename = "text_to_audio")]
    TextToAudio,
    /// `text_to_3D` (T23D): text prompt, 3D responses given as rendered multi-view images.
    #[serde(rename = "text_to_3D")]
    TextTo3d,
    /// `text_image_to_image` (TI2I): an image and an edit instruction, edited-image responses.
    #[serde(rename = "text_image_to_image")]
    TextImageToImage,
}

/// The five modalities of the per-modality views. A task counts toward the modality of its
/// non-text part.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    /// Text only (T2T).
    Text,
    /// Images in the prompt or the responses (TI2T, T2I, TI2I).
    Image,
    /// Videos in the prompt or the responses (TV2T, T2V).
    Video,
    /// Audio in the prompt or the responses (TA2T, T2A).
    Audio,
    /// 3D objects, judged from rendered views (T23D).
    #[serde(rename = "3d")]
    ThreeD,
}

impl Task {
    /// All tasks in the paper's column order.
    pub const ALL: [Task; 9] = [
        Task::TextToText,
        Task::TextImageToText,
        Task::TextVideoToText,
        Task::TextAudioToText,
        Task::TextToImage,
        Task::TextToVideo,
        Task::TextToAudio,
        Task::TextTo3d,
        Task::TextImageToImage,
    ];

    /// The Hugging Face config name, also used in file names and JSON.
    pub fn key(self) -> &'static str {
        match self {
            Task::TextToText => "text_to_text",
            Task::TextImageToText => "text_image_to_text",
            Task::TextVideoToText => "text_video_to_text",
            Task::TextAudioToText => "text_audio_to_text",
            Task::TextToImage => "text_to_image",
            Task::TextToVideo => "text_to_video",
            Task::TextToAudio => "text_to_audio",
            Task::TextTo3d => "text_to_3D",
            Task::TextImageToImage => "text_image_to_image",
        }
    }

    /// The paper's short column name (T2T, TI2T, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            Task::TextToText => "T2T",
            Task::TextImageToText => "TI2T",
            Task::TextVideoToText => "TV2T",
            Task::TextAudioToText => "TA2T",
            Task::TextToImage => "T2I",
            Task::TextToVideo => "T2V",
            Task::TextToAudio => "T2A",
            Task::TextTo3d => "T23D",
            Task::TextImageToImage => "TI2I",
        }
    }

    /// Modalities of the prompt: always text, plus the prompt media if any.
    pub fn input_modalities(self) -> &'static [Modality] {
        match self {
            Task::TextImageToText | Task::TextImageToImage => &[Modality::Text, Modality::Image],
            Task::TextVideoToText => &[Modality::Text, Modality::Video],
            Task::TextAudioToText => &[Modality::Text, Modality::Audio],
            _ => &[Modality::Text],
        }
    }

    /// Modality of the two candidate responses.
    pub fn response_modality(self) -> Modality {
        match self {
            Task::TextToText
            | Task::TextImageToText
            | Task::TextVideoToText
            | Task::TextAudioToText => Modality::Text,
            Task::TextToImage | Task::TextImageToImage => Modality::Image,
            Task::TextToVideo => Modality::Video,
            Task::TextToAudio => Modality::Audio,
            Task::TextTo3d => Modality::ThreeD,
        }
    }

    /// The modality this task rolls up into: the one of its non-text part.
    pub fn modality(self) -> Modality {
        match self.response_modality() {
            Modality::Text => self
                .input_modalities()
                .iter()
                .copied()
                .find(|modality| *modality != Modality::Text)
                .unwrap_or(Modality::Text),
            other => other,
        }
    }

    /// The prompt media kind, for tasks whose prompt carries an image, video or audio clip.
    pub fn prompt_media(self) -> Option<Modality> {
        self.input_modalities()
            .iter()
            .copied()
            .find(|modality| *modality != Modality::Text)
    }
}

impl Modality {
    /// All modalities in display order.
    pub const ALL: [Modality; 5] = [
        Modality::Text,
        Modality::Image,
        Modality::Video,
        Modality::Audio,
        Modality::ThreeD,
    ];

    /// The JSON key (`text`, `image`, `video`, `audio`, `3d`).
    pub fn key(self) -> &'static str {
        match self {
            Modality::Text => "text",
            Modality::Image => "image",
            Modality::Video => "video",
            Modality::Audio => "audio",
            Modality::ThreeD => "3d",
        }
    }

    /// The label shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Modality::Text => "Text",
            Modality::Image => "Image",
            Modality::Video => "Video",
            Modality::Audio => "Audio",
            Modality::ThreeD => "3D",
        }
    }

    /// The tasks that roll up into this modality, in column order.
    pub fn tasks(self) -> impl Iterator<Item = Task> {
        Task::ALL
            .into_iter()
            .filter(move |task| task.modality() == self)
    }
}

impl fmt::Display for Task {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.key())
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.label())
    }
}

/// A task name that is neither a config key nor a short name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown task `{0}`: expected one of text_to_text, text_image_to_text, text_video_to_text, text_audio_to_text, text_to_image, text_to_video, text_to_audio, text_to_3D, text_image_to_image (or T2T, TI2T, TV2T, TA2T, T2I, T2V, T2A, T23D, TI2I)"
)]
pub struct ParseTaskError(pub String);

impl FromStr for Task {
    type Err = ParseTaskError;

    /// Accepts the config key or the short name, ignoring ASCII case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim();
        Task::ALL
            .into_iter()
            .find(|task| {
                task.key().eq_ignore_ascii_case(wanted)
                    || task.short_name().eq_ignore_ascii_case(wanted)
            })
            .ok_or_else(|| ParseTaskError(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_has_the_papers_modality() {
        let expected = [
            (Task::TextToText, Modality::Text),
            (Task::TextImageToText, Modality::Image),
            (Task::TextVideoToText, Modality::Video),
            (Task::TextAudioToText, Modality::Audio),
            (Task::TextToImage, Modality::Image),
            (Task::TextToVideo, Modality::Video),
            (Task::TextToAudio, Modality::Audio),
            (Task::TextTo3d, Modality::ThreeD),
            (Task::TextImageToImage, Modality::Image),
        ];
        for (task, modality) in expected {
            assert_eq!(task.modality(), modality, "{task}");
        }
        let image_tasks: Vec<Task> = Modality::Image.tasks().collect();
        assert_eq!(
            image_tasks,
            [
                Task::TextImageToText,
                Task::TextToImage,
                Task::TextImageToImage
            ]
        );
    }

    #[test]
    fn tasks_parse_from_keys_and_short_names() {
        for task in Task::ALL {
            assert_eq!(task.key().parse::<Task>(), Ok(task));
            assert_eq!(task.short_name().to_lowercase().parse::<Task>(), Ok(task));
        }
        assert_eq!("text_to_3d".parse::<Task>(), Ok(Task::TextTo3d));
        assert!("text_to_smell".parse::<Task>().is_err());
    }

    #[test]
    fn serde_uses_config_keys() {
        let json = serde_json::to_string(&Task::TextTo3d).expect("serialises");
        assert_eq!(json, "\"text_to_3D\"");
        let json = serde_json::to_string(&Modality::ThreeD).expect("serialises");
        assert_eq!(json, "\"3d\"");
    }
}
