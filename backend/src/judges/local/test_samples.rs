//! Samples built in unit tests of local-model inputs: fixture images, texts and media
//! responses, and a sample of a task with the criterion and prompt the assertions expect.

use omnireward_shared::{Label, MediaKind, MediaLocation, MediaRef, Response, Sample, Task};

/// A PNG of the local-judge fixtures, named by height × width (`exact_56x84` is 84 wide).
pub(crate) fn image(name: &str) -> MediaRef {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("local-judge/tests/fixtures/qwen2_vl_processor")
        .join(format!("{name}.png"));
    MediaRef {
        kind: MediaKind::Image,
        name: format!("{name}.png"),
        location: MediaLocation::File {
            path: path.to_string_lossy().into_owned(),
        },
    }
}

/// A sample of `task` with criterion "the criterion" and prompt "the prompt".
pub(crate) fn sample(
    task: Task,
    prompt_media: Option<MediaRef>,
    responses: [Response; 2],
) -> Sample {
    let [response1, response2] = responses;
    Sample {
        id: "1".to_owned(),
        task,
        prompt: "the prompt".to_owned(),
        prompt_media,
        response1,
        response2,
        criterion: "the criterion".to_owned(),
        label: Label::Response1,
        model1: None,
        model2: None,
    }
}

/// A text response.
pub(crate) fn text(text: &str) -> Response {
    Response::Text {
        text: text.to_owned(),
    }
}

/// A media response.
pub(crate) fn media(item: MediaRef) -> Response {
    Response::Media { media: item }
}
