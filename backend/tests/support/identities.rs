//! Builds a scripted server that recognises every (sample, setting, order) request of a
//! benchmark, by rendering each request with the same prompts, media encoder (sharing the run's
//! cache) and request defaults that `eval api` and the worker use.

use std::path::Path;

use omnireward::judges::api::prompts::PromptSet;
use omnireward::judges::api::request::{AudioParts, RequestOptions, build_body};
use omnireward::media::MediaEncoder;
use omnireward_shared::{Order, Sample, Setting};

use super::openai_server::{Script, fingerprint};

/// A script for `samples` expecting `model`, with every item's request fingerprint registered.
pub fn script_for(home: &Path, model: &str, samples: &[Sample]) -> Script {
    let prompts = PromptSet::builtin();
    let encoder = MediaEncoder::new(home.join("cache"));
    let options = RequestOptions {
        model: model.to_owned(),
        temperature: None,
        max_tokens: None,
        extra_body: serde_json::Map::new(),
        prompt_video_frames: 10,
        response_video_frames: 5,
        audio_parts: AudioParts::Joined,
        ablations: Vec::new(),
    };
    let mut script = Script::new(model, samples.to_vec());
    for (index, sample) in samples.iter().enumerate() {
        for setting in Setting::ALL
            .into_iter()
            .filter(|setting| setting.includes(sample.label))
        {
            for order in [Order::Original, Order::Swapped] {
                let rendered = prompts.render(sample, setting, order).expect("renders");
                let body =
                    build_body(&rendered, sample, order, &encoder, &options).expect("builds");
                let previous = script.identities.insert(
                    fingerprint(&body["messages"]),
                    (index, setting == Setting::WithTies, order == Order::Swapped),
                );
                assert!(
                    previous.is_none(),
                    "two items share one request: {}",
                    sample.id
                );
            }
        }
    }
    script
}
