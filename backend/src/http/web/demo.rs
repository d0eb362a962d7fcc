//! `/demo`: the scoring demo's page and its form post, turned into a `POST /score` request.
//!
//! A text model's form is URL-encoded; an image-text model's form is multipart, with the two
//! images as files, which become the API's base64 fields. Either way the scoring service behind
//! `POST /score` does the checking, and its errors are shown beside the form.

use axum::extract::{FromRequest, Multipart, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnireward_frontend::data::{DemoCoverage, DemoForm, DemoPage, DemoStanding, DemoTask, Page};
use omnireward_frontend::pages::demo::EXAMPLES;
use omnireward_shared::wire::{Provenance, ScoreRequest, ScoreResponse};
use omnireward_shared::{Setting, Task};

use super::{PageError, Site, query_value};
use crate::http::leaderboard::{LeaderboardQuery, leaderboard_document};
use crate::http::score::{MAX_IMAGE_BYTES, MAX_TEXT_BYTES, MAX_VIDEO_BYTES};
use crate::judges::local::{Coverage, coverage};
use crate::storage::RunId;

/// Largest demo form post: two images and four texts, with room for the multipart framing.
pub(super) const DEMO_BODY_LIMIT: usize = 2 * MAX_IMAGE_BYTES + 4 * MAX_TEXT_BYTES + 64 * 1024;

/// The demo page for this server's model, with nothing filled in.
fn empty_page(site: &Site) -> DemoPage {
    let Some(scoring) = site.state.scoring.as_ref() else {
        return DemoPage::default();
    };
    let reads_images = scoring.reads_images();
    let reads_videos = matches!(
        scoring.kind(),
        Some(
            omnireward_local_judge::architecture::ModelKind::MultimodalConversation
                | omnireward_local_judge::architecture::ModelKind::OmniConversation
        )
    );
    DemoPage {
        model: Some(scoring.model_name().to_owned()),
        reads_images,
        reads_videos,
        tasks: Task::ALL
            .into_iter()
            .map(|task| DemoTask {
                task,
                coverage: match coverage(scoring.coverage_kind(), task) {
                    Coverage::Full => DemoCoverage::Full,
                    Coverage::TextOnlyPrompt => DemoCoverage::PromptTextOnly,
                    Coverage::NotCovered => DemoCoverage::NotCovered,
                },
            })
            .collect(),
        ..DemoPage::default()
    }
}

/// The demo model's rows on the served benchmark and the tie rules of their run. The model is
/// found by name (an evaluation of the demo's checkpoint is recorded under its folder's name);
/// without such a run, or when the leaderboard cannot be read, the page says nothing is known.
async fn standing(site: &Site) -> DemoStanding {
    let Some(scoring) = site.state.scoring.as_ref() else {
        return DemoStanding::default();
    };
    let model = scoring.model_name();
    let served = site.state.benchmark.identity.name.clone();
    let mut standing = DemoStanding::default();
    for setting in Setting::ALL {
        let query = LeaderboardQuery {
            setting: Some(setting.key().to_owned()),
            benchmark: Some(served.clone()),
            ..LeaderboardQuery::default()
        };
        let Ok(document) = leaderboard_document(&site.state, &query).await else {
            return DemoStanding::default();
        };
        let row = document
            .rows
            .iter()
            .find(|row| row.model == model && row.provenance == Provenance::Evaluated)
            .cloned()
            .map(Box::new);
        match setting {
            Setting::WithTies => {
                standing.ranked = document.rows.len();
                standing.with_ties = row;
            }
            Setting::WithoutTies => standing.without_ties = row,
        }
    }
    if let Some(row) = &standing.with_ties
        && let Ok(Some(mut scorecard)) = site.state.storage.scorecard(RunId(row.run)).await
        && let Some(with_ties) = scorecard.settings.remove(&Setting::WithTies)
    {
        standing.tie_rules = with_ties
            .tasks
            .into_iter()
            .filter_map(|(task, score)| score.tie_rule.map(|rule| (task, rule)))
            .collect();
    }
    standing
}

/// `GET /demo`, filled with an example when the query names one (`?example=N`).
pub(super) async fn form(State(site): State<Site>, RawQuery(query): RawQuery) -> Response {
    let example = query_value(query.as_deref(), "example")
        .and_then(|number| number.parse::<usize>().ok())
        .and_then(|number| number.checked_sub(1))
        .and_then(|index| EXAMPLES.get(index));
    let form = example
        .map(|(_, example)| example.form())
        .unwrap_or_default();
    site.render(
        StatusCode::OK,
        Page::Demo(DemoPage {
            form,
            standing: standing(&site).await,
            ..empty_page(&site)
        }),
    )
}

/// An uploaded image: its file name and bytes.
struct Upload {
    name: String,
    bytes: Vec<u8>,
}

/// What the form posted.
struct Posted {
    form: DemoForm,
    images: [Option<Upload>; 2],
    videos: [Option<Upload>; 2],
}

/// Reads a multipart demo post. The body limit bounds the whole post; each image is checked
/// against the API's limit here too, so the error names the field.
async fn read_multipart(mut multipart: Multipart) -> Result<Posted, String> {
    let mut posted = Posted {
        form: DemoForm::default(),
        images: [None, None],
        videos: [None, None],
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|error| format!("the form could not be read: {error}"))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let bytes = field
            .bytes()
            .await
            .map_err(|error| format!("the field `{name}` could not be read: {error}"))?;
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        match name.as_str() {
            "task" => posted.form.task = text(),
            "criterion" => posted.form.criterion = text(),
            "prompt" => posted.form.prompt = text(),
            "image1" | "image2" => {
                let index = usize::from(name == "image2");
                let label = index + 1;
                if bytes.len() > MAX_IMAGE_BYTES {
                    return Err(format!(
                        "image {label} is {} bytes; the limit is {MAX_IMAGE_BYTES} (3 MB)",
                        bytes.len()
                    ));
                }
                // A file input left empty still sends a part, with no bytes.
                if !bytes.is_empty() {
                    posted.images[index] = Some(Upload {
                        name: file_name.unwrap_or_else(|| format!("image {label}")),
                        bytes: bytes.to_vec(),
                    });
                }
            }
            "video1" | "video2" => {
                let index = usize::from(name == "video2");
                let label = index + 1;
                if bytes.len() > MAX_VIDEO_BYTES {
                    return Err(format!(
                        "video {label} is {} bytes; the limit is {MAX_VIDEO_BYTES} (3 MB)",
                        bytes.len()
                    ));
                }
                if !bytes.is_empty() {
                    posted.videos[index] = Some(Upload {
                        name: file_name.unwrap_or_else(|| format!("video {label}")),
                        bytes: bytes.to_vec(),
                    });
                }
            }
            // Text responses have no place in an image model's form; anything else is ignored
            // like unknown fields of any HTML form.
            _ => {}
        }
    }
    Ok(posted)
}

/// Reads the post as the page's form sent it: multipart with files, or URL-encoded.
async fn read_post(site: &Site, request: Request) -> Result<Posted, (StatusCode, String)> {
    let multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        });
    if multipart {
        let multipart = Multipart::from_request(request, site)
            .await
            .map_err(|rejection| (rejection.status(), rejection.body_text()))?;
        read_multipart(multipart)
            .await
            .map_err(|message| (StatusCode::BAD_REQUEST, message))
    } else {
        let axum::Form(form) = axum::Form::<DemoForm>::from_request(request, site)
            .await
            .map_err(|rejection| (rejection.status(), rejection.body_text()))?;
        Ok(Posted {
            form,
            images: [None, None],
            videos: [None, None],
        })
    }
}

/// The `POST /score` request for the post: images when the form sent files, else texts.
fn score_request(posted: &Posted) -> ScoreRequest {
    let mut request = ScoreRequest {
        criterion: posted.form.criterion.clone(),
        prompt: posted.form.prompt.clone(),
        ..ScoreRequest::default()
    };
    let encode =
        |upload: &Option<Upload>| upload.as_ref().map(|upload| BASE64.encode(&upload.bytes));
    if posted.videos.iter().any(Option::is_some) {
        // A missing video is left out, so the service names what is missing.
        request.video1 = encode(&posted.videos[0]);
        request.video2 = encode(&posted.videos[1]);
        return request;
    }
    match &posted.images {
        [None, None] => {
            request.response1 = Some(posted.form.response1.clone());
            request.response2 = Some(posted.form.response2.clone());
        }
        // A missing image is left out, so the service names what is missing.
        [first, second] => {
            let encode =
                |image: &Option<Upload>| image.as_ref().map(|image| BASE64.encode(&image.bytes));
            request.image1 = encode(first);
            request.image2 = encode(second);
        }
    }
    request
}

/// `POST /demo`: scores the pair and shows the page again with the result or the error.
pub(super) async fn score(State(site): State<Site>, request: Request) -> Response {
    let posted = match read_post(&site, request).await {
        Ok(posted) => posted,
        Err((status, message)) => {
            return site.render(
                status,
                Page::Demo(DemoPage {
                    error: Some(message),
                    ..empty_page(&site)
                }),
            );
        }
    };
    // An empty task is the form's default; any other value must name a task.
    let task = posted.form.task.as_str();
    if !task.is_empty() && task.parse::<Task>().is_err() {
        return site.render(
            StatusCode::BAD_REQUEST,
            Page::Demo(DemoPage {
                error: Some(format!("there is no task type {task:?}")),
                ..empty_page(&site)
            }),
        );
    }
    let answer = crate::http::score::score_pair(&site.state, score_request(&posted)).await;
    let standing = standing(&site).await;
    let images = match &posted.images {
        [Some(first), Some(second)] => Some([first.name.clone(), second.name.clone()]),
        _ => None,
    };
    let page = |result: Option<ScoreResponse>, error: Option<String>| DemoPage {
        form: posted.form.clone(),
        images: images.clone(),
        result,
        error,
        standing: standing.clone(),
        ..empty_page(&site)
    };
    let (status, page) = match answer {
        Ok(result) => (StatusCode::OK, page(Some(result), None)),
        Err(error) => {
            let PageError { status, message } = error.into();
            (status, page(None, Some(message)))
        }
    };
    let mut response = site.render(status, Page::Demo(page));
    if status == StatusCode::TOO_MANY_REQUESTS {
        // The demo's only 429 is its full queue: the page says when to try again, as the API
        // does.
        response.headers_mut().insert(
            header::RETRY_AFTER,
            crate::http::error::SATURATED_RETRY_AFTER_SECONDS.into(),
        );
    }
    response
}
