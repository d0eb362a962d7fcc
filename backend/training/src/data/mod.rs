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
