//! Benchmark samples as preference pairs: the preferred response is chosen, ties are dropped
//! (they carry no preference), and media are kept as references for the families that see them.

use std::path::PathBuf;

use omnireward_shared::{
    Label, MediaKind as SharedMediaKind, MediaLocation, MediaRef, Response, Sample,
};

use super::{MediaItem, MediaKind, PreferencePair};

/// Pairs of the non-tie samples, and the number of ties dropped.
pub fn pairs_from_samples(samples: &[Sample]) -> (Vec<PreferencePair>, usize) {
    let mut ties = 0;
    let mut pairs = Vec::with_capacity(samples.len());
    for sample in samples {
        let (chosen, rejected) = match sample.label {
            Label::Response1 => (&sample.response1, &sample.response2),
            Label::Response2 => (&sample.response2, &sample.response1),
            Label::Tie => {
                ties += 1;
                continue;
            }
        };
        let (chosen_text, chosen_media) = response_parts(chosen);
        let (rejected_text, rejected_media) = response_parts(rejected);
        pairs.push(PreferencePair {
            criterion: sample.criterion.clone(),
            prompt: sample.prompt.clone(),
            chosen: chosen_text,
            rejected: rejected_text,
            prompt_media: sample.prompt_media.iter().map(media_item).collect(),
            chosen_media: chosen_media.into_iter().map(media_item).collect(),
            rejected_media: rejected_media.into_iter().map(media_item).collect(),
            origin: format!("{}/{}", sample.task.key(), sample.id),
        });
    }
    (pairs, ties)
}

fn response_parts(response: &Response) -> (String, Option<&MediaRef>) {
    match response {
        Response::Text { text } => (text.clone(), None),
        Response::Media { media } => (String::new(), Some(media)),
    }
}

fn media_item(media: &MediaRef) -> MediaItem {
    let kind = match media.kind {
        SharedMediaKind::Image => MediaKind::Image,
        SharedMediaKind::Video => MediaKind::Video,
        SharedMediaKind::Audio => MediaKind::Audio,
    };
    // Media embedded in parquet has no file of its own; its dataset name stands for it.
    let path = match &media.location {
        MediaLocation::File { path } => PathBuf::from(path),
        MediaLocation::ParquetCell { .. } => PathBuf::from(&media.name),
    };
    MediaItem { kind, path }
}
