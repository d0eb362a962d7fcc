//! Preference pairs for training: what one pair holds ([`PreferencePair`]), readers for the
//! LLaMA-Factory "sharegpt ranking" layout of Omni-RewardData ([`sharegpt`]), benchmark samples
//! turned into pairs ([`benchmark`]), and the seeded shuffle and train/validation split
//! ([`split`]).

pub mod benchmark;
pub mod sharegpt;
pub mod split;
pub mod synthetic;

use std::path::PathBuf;

use serde::Serialize;

/// The kind of a media file attached to a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MediaKind {
    /// An image (or one frame of a video given as frames).
    Image,
    /// A video file or a list of frames.
    Video,
    /// An audio clip.
    Audio,
}

/// One media file of a pair, resolved against the data file's folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MediaItem {
    /// What it is.
    pub kind: MediaKind,
    /// Where it is.
    pub path: PathBuf,
}

/// One preference: under `criterion`, `chosen` answers `prompt` better than `rejected`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreferencePair {
    /// The free-form criterion (the leading system turn; empty when there is none).
    pub criterion: String,
    /// The user's request: the single user turn, or the dialogue before the answer, with media
    /// placeholders (`<image>`, `<video>`, `<audio>`) removed.
    pub prompt: String,
    /// The preferred answer's text.
    pub chosen: String,
    /// The other answer's text.
    pub rejected: String,
    /// Media that belongs to the prompt.
    pub prompt_media: Vec<MediaItem>,
    /// Media generated as the preferred answer (generation tasks).
    pub chosen_media: Vec<MediaItem>,
    /// Media generated as the other answer.
    pub rejected_media: Vec<MediaItem>,
    /// Where the pair came from (`file:line N` or `file:record N`, or a benchmark sample id), for
    /// error messages and records.
    pub origin: String,
}

impl PreferencePair {
    /// Whether the answers themselves are media (a text model cannot compare them).
    pub fn has_response_media(&self) -> bool {
        !self.chosen_media.is_empty() || !self.rejected_media.is_empty()
    }
}

/// Counts of what a text-model training run could and could not use from a data source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TextUsage {
    /// Pairs kept.
    pub kept: usize,
    /// Pairs whose answers are media, left out (the model reads text only).
    pub response_media_skipped: usize,
    /// Kept pairs whose prompt media the model does not see.
    pub prompt_media_unseen: usize,
}

/// Keeps the pairs a text model can learn from (text answers), counting what is left out.
pub fn text_pairs(pairs: Vec<PreferencePair>) -> (Vec<PreferencePair>, TextUsage) {
    let mut usage = TextUsage::default();
    let mut kept = Vec::with_capacity(pairs.len());
    for pair in pairs {
        if pair.has_response_media() {
            usage.response_media_skipped += 1;
            continue;
        }
        if !pair.prompt_media.is_empty() {
            usage.prompt_media_unseen += 1;
        }
        kept.push(pair);
    }
    usage.kept = kept.len();
    (kept, usage)
}

/// Counts of what an image-text model (CLIP, SigLIP) could and could not use from a data source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImageUsage {
    /// Pairs kept: one image per answer.
    pub kept: usize,
    /// Pairs whose answers are text, left out (the model scores images).
    pub text_answers_skipped: usize,
    /// Pairs whose answers are videos or audio, left out (the judge samples video frames through
    /// ffmpeg, which training does not run; audio it cannot read).
    pub video_or_audio_answers_skipped: usize,
    /// Pairs with several images per answer, left out (training compares one image each).
    pub several_images_skipped: usize,
    /// Kept pairs whose prompt media the model does not see (it reads the prompt's text).
    pub prompt_media_unseen: usize,
}

/// Keeps the pairs an image-text model can learn from (one image per answer), counting what is
/// left out and why.
pub fn image_pairs(pairs: Vec<PreferencePair>) -> (Vec<PreferencePair>, ImageUsage) {
    let mut usage = ImageUsage::default();
    let mut kept = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let answers = [&pair.chosen_media, &pair.rejected_media];
        if answers.iter().any(|media| media.is_empty()) {
            usage.text_answers_skipped += 1;
            continue;
        }
        if answers
            .iter()
            .flat_map(|media| media.iter())
            .any(|item| item.kind != MediaKind::Image)
        {
            usage.video_or_audio_answers_skipped += 1;
            continue;
        }
        if answers.iter().any(|media| media.len() > 1) {
            usage.several_images_skipped += 1;
            continue;
        }
        if !pair.prompt_media.is_empty() {
            usage.prompt_media_unseen += 1;
        }
        kept.push(pair);
    }
    usage.kept = kept.len();
    (kept, usage)
}

/// What a source gave a model of either kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum PairUsage {
    /// A text model's counts.
    Text(TextUsage),
    /// An image-text model's counts.
    Images(ImageUsage),
}

/// Keeps the pairs a model that does (`reads_images`) or does not read images can learn from.
pub fn usable_pairs(
    pairs: Vec<PreferencePair>,
    reads_images: bool,
) -> (Vec<PreferencePair>, PairUsage) {
    if reads_images {
        let (kept, usage) = image_pairs(pairs);
        (kept, PairUsage::Images(usage))
    } else {
        let (kept, usage) = text_pairs(pairs);
        (kept, PairUsage::Text(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(chosen: &[(MediaKind, &str)], rejected: &[(MediaKind, &str)]) -> PreferencePair {
        let items = |media: &[(MediaKind, &str)]| {
            media
                .iter()
                .map(|(kind, path)| MediaItem {
                    kind: *kind,
                    path: PathBuf::from(path),
                })
                .collect()
        };
        PreferencePair {
            criterion: String::new(),
            prompt: "a red square".to_owned(),
            chosen: String::new(),
            rejected: String::new(),
            prompt_media: Vec::new(),
            chosen_media: items(chosen),
            rejected_media: items(rejected),
            origin: "test".to_owned(),
        }
    }

    #[test]
    fn image_models_keep_one_image_per_answer_and_count_the_rest_by_reason() {
        let image = MediaKind::Image;
        let pairs = vec![
            pair(&[(image, "a.png")], &[(image, "b.png")]),
            pair(&[], &[]),
            pair(
                &[(MediaKind::Video, "a.mp4")],
                &[(MediaKind::Video, "b.mp4")],
            ),
            pair(&[(image, "a.png"), (image, "c.png")], &[(image, "b.png")]),
        ];
        let (kept, usage) = image_pairs(pairs.clone());
        assert_eq!(kept, vec![pairs[0].clone()]);
        assert_eq!(
            usage,
            ImageUsage {
                kept: 1,
                text_answers_skipped: 1,
                video_or_audio_answers_skipped: 1,
                several_images_skipped: 1,
                prompt_media_unseen: 0,
            }
        );
        let (kept, PairUsage::Text(usage)) = usable_pairs(pairs.clone(), false) else {
            panic!("a text model's usage");
        };
        assert_eq!(kept, vec![pairs[1].clone()]);
        assert_eq!(usage.response_media_skipped, 3);
    }
}
