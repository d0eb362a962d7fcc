//! `GET /media/{task}/{id}/{field}`: the bytes of one media item of a served sample, with a
//! content type, a day of caching and single byte ranges, so browsers can seek audio and video.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use omnireward_shared::{MediaRef, Sample, Task};

use super::{ApiError, ApiPath, AppState};
use crate::data::media::read_media;

/// Media of the benchmark never change under a URL (the benchmark is fixed while served).
const CACHE_CONTROL_VALUE: &str = "public, max-age=86400";

/// Which media item of a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MediaField {
    /// The image, video or audio clip of the prompt.
    PromptMedia,
    /// The first response.
    Response1,
    /// The second response.
    Response2,
}

impl MediaField {
    const ALL: [MediaField; 3] = [
        MediaField::PromptMedia,
        MediaField::Response1,
        MediaField::Response2,
    ];

    /// The URL segment.
    pub(super) fn key(self) -> &'static str {
        match self {
            MediaField::PromptMedia => "prompt_media",
            MediaField::Response1 => "response1",
            MediaField::Response2 => "response2",
        }
    }

    /// The media item of `sample` in this field, if the field holds media.
    fn of(self, sample: &Sample) -> Option<&MediaRef> {
        match self {
            MediaField::PromptMedia => sample.prompt_media.as_ref(),
            MediaField::Response1 => sample.response1.media(),
            MediaField::Response2 => sample.response2.media(),
        }
    }
}

/// The API URL of a media item.
pub(super) fn media_url(task: Task, sample_id: &str, field: MediaField) -> String {
    format!(
        "{}/media/{}/{}/{}",
        super::API_PREFIX,
        task.key(),
        encode_path_segment(sample_id),
        field.key()
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so any sample id is one path
/// segment.
fn encode_path_segment(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `GET /media/{task}/{id}/{field}`, honouring a `Range` header.
#[utoipa::path(
    get,
    path = "/media/{task}/{id}/{field}",
    tag = "benchmark",
    params(
        ("task" = omnireward_shared::Task, Path, description = "Task key or short name."),
        ("id" = String, Path, description = "Sample id."),
        ("field" = String, Path, description = "`prompt_media`, `response1` or `response2`."),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. `bytes=0-1023`."),
    ),
    responses(
        (status = 200, description = "The media bytes with their content type.",
         content_type = "application/octet-stream"),
        (status = 206, description = "The requested range.",
         content_type = "application/octet-stream"),
        (status = 404, description = "No such sample or media field.",
         body = super::error::ErrorBody),
        (status = 416, description = "Range outside the media.", body = super::error::ErrorBody),
    )
)]
pub(super) async fn bytes(
    State(state): State<AppState>,
    ApiPath((task, id, field)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("media {task}/{id}/{field} does not exist"));
    let field = MediaField::ALL
        .into_iter()
        .find(|candidate| candidate.key() == field)
        .ok_or_else(not_found)?;
    let task: Task = task.parse().map_err(|_| not_found())?;
    let media = field
        .of(state.sample(task, &id)?)
        .ok_or_else(not_found)?
        .clone();
    // Reading a parquet cell or a file blocks; keep it off the async workers.
    let name = media.name.clone();
    let bytes = tokio::task::spawn_blocking(move || read_media(&media))
        .await
        .map_err(|error| ApiError::Internal(format!("media reader stopped: {error}")))??;
    let range = headers.get(RANGE).and_then(|value| value.to_str().ok());
    media_response(Bytes::from(bytes), &name, range)
}

/// The response for the whole item, or for the single range asked for.
fn media_response(bytes: Bytes, name: &str, range: Option<&str>) -> Result<Response, ApiError> {
    let length = bytes.len() as u64;
    let content_type = content_type(name, &bytes);
    let (status, body, content_range) = match resolve_range(range, length) {
        ByteRange::Whole => (StatusCode::OK, bytes, None),
        ByteRange::Part { first, last } => {
            let slice = bytes.slice(to_index(first)?..=to_index(last)?);
            let content_range = format!("bytes {first}-{last}/{length}");
            (StatusCode::PARTIAL_CONTENT, slice, Some(content_range))
        }
        ByteRange::Unsatisfiable => return Err(ApiError::RangeNotSatisfiable { length }),
    };
    let mut response = Response::new(Body::empty());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL_VALUE));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(content_range) = content_range {
        let value = HeaderValue::from_str(&content_range)
            .map_err(|error| ApiError::Internal(error.to_string()))?;
        headers.insert(CONTENT_RANGE, value);
    }
    *response.body_mut() = Body::from(body);
    Ok(response)
}

fn to_index(offset: u64) -> Result<usize, ApiError> {
    usize::try_from(offset).map_err(|error| ApiError::Internal(error.to_string()))
}

/// What a `Range` header asks of a resource of a known length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ByteRange {
    /// No usable range: send everything with 200.
    Whole,
    /// Send bytes `first..=last` with 206.
    Part {
        /// First byte offset.
        first: u64,
        /// Last byte offset, inclusive.
        last: u64,
    },
    /// The range starts past the end: 416.
    Unsatisfiable,
}

/// Resolves a `Range` header (RFC 9110 section 14) against `length` bytes. One range of the
/// `bytes` unit is served: `first-last`, `first-` or `-suffix`. Headers that are malformed, use
/// another unit or ask for several ranges are ignored, as the RFC allows, and the whole
/// resource is sent.
fn resolve_range(header: Option<&str>, length: u64) -> ByteRange {
    let Some(header) = header else {
        return ByteRange::Whole;
    };
    let Some((unit, spec)) = header.trim().split_once('=') else {
        return ByteRange::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return ByteRange::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |text: &str| -> Option<u64> {
        let text = text.trim();
        if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // `-suffix`: the last `suffix` bytes.
        (true, false) => match number(last) {
            None => ByteRange::Whole,
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if length == 0 => ByteRange::Unsatisfiable,
            Some(suffix) => ByteRange::Part {
                first: length.saturating_sub(suffix),
                last: length - 1,
            },
        },
        // `first-` or `first-last`; a last offset past the end is clamped.
        (false, open_ended) => {
            let Some(first) = number(first) else {
                return ByteRange::Whole;
            };
            let last = if open_ended {
                u64::MAX
            } else {
                match number(last) {
                    Some(last) if last >= first => last,
                    _ => return ByteRange::Whole,
                }
            };
            if first >= length {
                ByteRange::Unsatisfiable
            } else {
                ByteRange::Part {
                    first,
                    last: last.min(length - 1),
                }
            }
        }
        (true, true) => ByteRange::Whole,
    }
}

/// The content type, from the bytes' signature when it is known, else from the name's extension.
fn content_type(name: &str, bytes: &[u8]) -> &'static str {
    sniff(bytes)
        .or_else(|| from_extension(name))
        .unwrap_or("application/octet-stream")
}

fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WAVE" {
        Some("audio/wav")
    } else if bytes.len() >= 8 && &bytes[4..8] == b"ftyp" {
        Some("video/mp4")
    } else if bytes.starts_with(b"ID3")
        || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
    {
        Some("audio/mpeg")
    } else {
        None
    }
}

fn from_extension(name: &str) -> Option<&'static str> {
    let (_, extension) = name.rsplit_once('.')?;
    match extension.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "mp4" => Some("video/mp4"),
        "wav" => Some("audio/wav"),
        "mp3" => Some("audio/mpeg"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_as_rfc_9110_says() {
        let part = |first, last| ByteRange::Part { first, last };
        let cases = [
            (None, ByteRange::Whole),
            (Some("bytes=0-9"), part(0, 9)),
            (Some("bytes=10-"), part(10, 99)),
            (Some("bytes=90-500"), part(90, 99)),
            (Some("bytes=-10"), part(90, 99)),
            (Some("bytes=-500"), part(0, 99)),
            (Some("Bytes = 5-5"), part(5, 5)),
            (Some("bytes=100-"), ByteRange::Unsatisfiable),
            (Some("bytes=100-200"), ByteRange::Unsatisfiable),
            (Some("bytes=-0"), ByteRange::Unsatisfiable),
            (Some("bytes=9-3"), ByteRange::Whole),
            (Some("bytes=0-1,5-6"), ByteRange::Whole),
            (Some("items=0-1"), ByteRange::Whole),
            (Some("bytes=a-b"), ByteRange::Whole),
            (Some("bytes=-"), ByteRange::Whole),
            (Some("bytes=+1-2"), ByteRange::Whole),
            (Some("bytes"), ByteRange::Whole),
        ];
        for (header, expected) in cases {
            assert_eq!(resolve_range(header, 100), expected, "{header:?}");
        }
        assert_eq!(resolve_range(Some("bytes=-5"), 0), ByteRange::Unsatisfiable);
        assert_eq!(resolve_range(Some("bytes=0-"), 0), ByteRange::Unsatisfiable);
    }

    #[test]
    fn content_types_come_from_signatures_then_extensions() {
        assert_eq!(content_type("x.bin", b"\x89PNG\r\n\x1a\n...."), "image/png");
        assert_eq!(
            content_type("x.png", &[0xFF, 0xD8, 0xFF, 0xE0]),
            "image/jpeg"
        );
        assert_eq!(content_type("x", b"RIFF\0\0\0\0WAVEfmt "), "audio/wav");
        assert_eq!(content_type("x", b"\0\0\0\x20ftypisom"), "video/mp4");
        assert_eq!(content_type("x", b"ID3\x04"), "audio/mpeg");
        assert_eq!(content_type("clip.MP3", b"????"), "audio/mpeg");
        assert_eq!(content_type("photo.jpeg", b""), "image/jpeg");
        assert_eq!(content_type("data", b"????"), "application/octet-stream");
    }

    #[test]
    fn sample_ids_become_single_path_segments() {
        assert_eq!(
            media_url(Task::TextTo3d, "a b/c%", MediaField::Response2),
            "/api/v1/media/text_to_3D/a%20b%2Fc%25/response2"
        );
    }
}
