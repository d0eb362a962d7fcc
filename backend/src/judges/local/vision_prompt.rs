//! What a vision-language chat model (a Qwen2-VL / Qwen2.5-VL folder without a reward head)
//! reads of a judge prompt: the API judges' rendered prompt ([`crate::judges::api::prompts`])
//! with each media slot filled by the sample's media, decoded, in the template's order, so the
//! judge sees both responses' media (and the prompt's) as an API judge does.
//!
//! - Images are decoded as local checkpoints decode them ([`super::inputs::response_images`]).
//! - Videos are sampled as the API judges sample them (`np.linspace` over the decoded frames,
//!   through `media::video`): 10 frames of a TV2T prompt video, 5 of each T2V response video,
//!   given at the rate they span (frames ÷ the container's duration, as the reward models read
//!   videos: [`super::inputs::video`]), which sets Qwen2.5-VL's time positions.
//!   [`VIDEO_FRAME_RULE`] names this rule in the run's identity.
//! - Audio has no tower here: audio tasks are not covered ([`coverage`]).

use image::DynamicImage;
use omnireward_local_judge::generation::vision_language::PromptPart;
use omnireward_shared::{MediaKind, Order, Sample, Task};

use super::coverage::Coverage;
use super::inputs::{response_images, video};
use super::thread::LocalScoringError;
use crate::judges::api::prompts::{MediaSlot, RenderedPrompt, UserPart};
use crate::media::MediaEncoder;
use omnireward_local_judge::conversation::ConversationMedia;

/// Frames sampled from a prompt video (TV2T), as the API judges sample them.
pub const PROMPT_VIDEO_FRAMES: usize = 10;

/// Frames sampled from each response video (T2V), as the API judges sample them.
pub const RESPONSE_VIDEO_FRAMES: usize = 5;

/// The media rule above, recorded in a vision-language generative judge's run identity: another
/// rule is another run.
pub const VIDEO_FRAME_RULE: &str = "images-decoded/prompt-video-10-frames/response-video-5-frames/linspace/frames-over-duration/v2";

/// What a vision-language generative judge covers: every task whose media are images or videos;
/// audio tasks are not covered (no audio tower).
pub fn coverage(task: Task) -> Coverage {
    match task {
        Task::TextToText
        | Task::TextImageToText
        | Task::TextVideoToText
        | Task::TextToImage
        | Task::TextToVideo
        | Task::TextTo3d
        | Task::TextImageToImage => Coverage::Full,
        Task::TextAudioToText | Task::TextToAudio => Coverage::NotCovered,
    }
}

/// One part of the user turn, owning its decoded media.
#[derive(Clone, Debug)]
pub enum JudgePart {
    /// Text of the template.
    Text(String),
    /// A decoded image.
    Image(DynamicImage),
    /// A video's sampled frames, in time order.
    Video {
        /// The frames.
        frames: Vec<DynamicImage>,
        /// The rate they are given at.
        frames_per_second: f64,
    },
}

impl JudgePart {
    /// The part as the model's request takes it.
    pub fn as_prompt_part(&self) -> PromptPart<'_> {
        match self {
            JudgePart::Text(text) => PromptPart::Text(text),
            JudgePart::Image(image) => PromptPart::Image(image),
            JudgePart::Video {
                frames,
                frames_per_second,
            } => PromptPart::Video {
                frames,
                frames_per_second: *frames_per_second,
            },
        }
    }
}

/// The user turn of `rendered` with each media slot filled by `fill`, in the template's order.
pub fn parts_with(
    rendered: &RenderedPrompt,
    mut fill: impl FnMut(MediaSlot) -> Result<JudgePart, LocalScoringError>,
) -> Result<Vec<JudgePart>, LocalScoringError> {
    rendered
        .user
        .iter()
        .map(|part| match part {
            UserPart::Text(text) => Ok(JudgePart::Text(text.clone())),
            UserPart::Media(slot) => fill(*slot),
        })
        .collect()
}

/// The user turn of `rendered` (rendered from `sample` in `order`) with the sample's media
/// decoded into its slots. Blocking: videos go through ffmpeg (cached by `media`).
pub fn sample_parts(
    rendered: &RenderedPrompt,
    sample: &Sample,
    order: Order,
    media: &MediaEncoder,
) -> Result<Vec<JudgePart>, LocalScoringError> {
    let input_error = |message: String| LocalScoringError::Input {
        task: sample.task,
        sample_id: sample.id.clone(),
        message,
    };
    let media_error = |error| LocalScoringError::Media {
        task: sample.task,
        sample_id: sample.id.clone(),
        source: Box::new(error),
    };
    parts_with(rendered, |slot| {
        let item = slot.resolve(sample, order).ok_or_else(|| {
            input_error(format!(
                "the template has a {} slot but the sample has no media there",
                slot.token()
            ))
        })?;
        match item.kind {
            MediaKind::Image => {
                let mut decoded = response_images(item, media, 1).map_err(media_error)?;
                let image = decoded
                    .pop()
                    .ok_or_else(|| input_error(format!("{}: no image decoded", item.name)))?;
                Ok(JudgePart::Image(image))
            }
            MediaKind::Video => {
                let frames = match slot {
                    MediaSlot::PromptMedia => PROMPT_VIDEO_FRAMES,
                    MediaSlot::ResponseA | MediaSlot::ResponseB => RESPONSE_VIDEO_FRAMES,
                };
                let ConversationMedia::Video {
                    frames,
                    frames_per_second,
                } = video(item, media, frames).map_err(media_error)?
                else {
                    return Err(input_error(format!("{}: not read as a video", item.name)));
                };
                if frames.is_empty() {
                    return Err(input_error(format!("{}: no frames decoded", item.name)));
                }
                Ok(JudgePart::Video {
                    frames,
                    frames_per_second,
                })
            }
            MediaKind::Audio => Err(input_error(format!(
                "{} is audio, which a vision-language judge cannot hear",
                item.name
            ))),
        }
    })
}

#[cfg(test)]
mod tests {
    use omnireward_shared::Setting;

    use super::*;
    use crate::judges::api::prompts::PromptSet;
    use crate::judges::local::test_samples::{image as fixture, media, sample, text};

    /// The parts as `T` (text), `I<width>` (image) and `V<frames>` (video), in order.
    fn shape(parts: &[JudgePart]) -> Vec<String> {
        parts
            .iter()
            .map(|part| match part {
                JudgePart::Text(_) => "T".to_owned(),
                JudgePart::Image(image) => format!("I{}", image.width()),
                JudgePart::Video { frames, .. } => format!("V{}", frames.len()),
            })
            .collect()
    }

    /// The media parts of `shape`, text left out.
    fn media_of(shape: &[String]) -> Vec<&str> {
        shape
            .iter()
            .map(String::as_str)
            .filter(|part| *part != "T")
            .collect()
    }

    #[test]
    fn each_image_task_fills_its_slots_in_template_order() {
        let folder = tempfile::TempDir::new().expect("cache");
        let encoder = MediaEncoder::new(folder.path().to_path_buf());
        let prompts = PromptSet::builtin();
        let parts = |sample: &Sample, order| {
            let rendered = prompts
                .render(sample, Setting::WithTies, order)
                .expect("renders");
            let parts = sample_parts(&rendered, sample, order, &encoder).expect("decodes");
            // The text is the template's text, media slots aside.
            let texts: String = parts
                .iter()
                .filter_map(|part| match part {
                    JudgePart::Text(text) => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(
                texts,
                crate::judges::local::generative::text_user_message(&rendered)
            );
            shape(&parts)
        };
        let images = || [media(fixture("small_20x20")), media(fixture("exact_56x84"))];

        let t2t = sample(Task::TextToText, None, [text("a"), text("b")]);
        assert_eq!(parts(&t2t, Order::Original), ["T"]);
        let ti2t = sample(
            Task::TextImageToText,
            Some(fixture("grid_140x196")),
            [text("a"), text("b")],
        );
        assert_eq!(media_of(&parts(&ti2t, Order::Original)), ["I196"]);
        // T2I and T23D: A then B, exchanged by the swapped order.
        for task in [Task::TextToImage, Task::TextTo3d] {
            let both = sample(task, None, images());
            assert_eq!(
                media_of(&parts(&both, Order::Original)),
                ["I20", "I84"],
                "{task}"
            );
            assert_eq!(
                media_of(&parts(&both, Order::Swapped)),
                ["I84", "I20"],
                "{task}"
            );
        }
        // TI2I: the source image, then both edits.
        let ti2i = sample(
            Task::TextImageToImage,
            Some(fixture("grid_140x196")),
            images(),
        );
        assert_eq!(
            media_of(&parts(&ti2i, Order::Original)),
            ["I196", "I20", "I84"]
        );
        // A template slot without media is an error naming the slot, not a silent gap.
        let rendered = prompts
            .render(&ti2i, Setting::WithTies, Order::Original)
            .expect("renders");
        let no_media = sample(Task::TextImageToImage, None, [text("a"), text("b")]);
        let error =
            sample_parts(&rendered, &no_media, Order::Original, &encoder).expect_err("no media");
        assert!(error.to_string().contains("<prompt_media>"), "{error}");
    }

    #[test]
    fn video_slots_become_sampled_frames_at_the_recorded_rate() {
        assert!(
            crate::media::ffmpeg_available(),
            "install ffmpeg to run the media tests"
        );
        let folder = tempfile::TempDir::new().expect("cache");
        let benchmark = crate::data::embedded::load(
            folder.path(),
            &crate::data::LoadOptions {
                tasks: vec![Task::TextVideoToText, Task::TextToVideo],
                ..crate::data::LoadOptions::default()
            },
        )
        .expect("the embedded sample loads");
        let encoder = MediaEncoder::new(folder.path().join("media"));
        let prompts = PromptSet::builtin();
        for (task, expected) in [
            (Task::TextVideoToText, vec!["V10"]),
            (Task::TextToVideo, vec!["V5", "V5"]),
        ] {
            let sample = benchmark
                .samples
                .iter()
                .find(|sample| sample.task == task)
                .expect("the sample has this task");
            let rendered = prompts
                .render(sample, Setting::WithTies, Order::Original)
                .expect("renders");
            let parts = sample_parts(&rendered, sample, Order::Original, &encoder).expect("frames");
            assert_eq!(media_of(&shape(&parts)), expected, "{task}");
            for part in &parts {
                if let JudgePart::Video {
                    frames_per_second, ..
                } = part
                {
                    // The embedded sample's clips are 2 s long or so: frames ÷ duration.
                    assert!(
                        frames_per_second.is_finite() && *frames_per_second > 1.0,
                        "{task}: {frames_per_second}"
                    );
                }
            }
        }
    }

    #[test]
    fn audio_tasks_are_not_covered_and_every_other_task_is() {
        for task in Task::ALL {
            let audio = matches!(task, Task::TextAudioToText | Task::TextToAudio);
            assert_eq!(
                coverage(task) == Coverage::NotCovered,
                audio,
                "{task}: only audio is left out"
            );
        }
    }
}
