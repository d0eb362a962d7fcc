//! Short synthetic videos: flat shapes that move, grow or stay still, drawn
//! frame by frame with the 2D scene rasteriser and encoded to H.264 MP4 by
//! ffmpeg.

use crate::external::{self, ScratchDirectory};
use crate::images::{Colour, Scene, Shape, ShapeKind};
use anyhow::{Context, Result};

/// Frame edge length in pixels; small frames keep the files tiny while the
/// motion stays obvious.
const FRAME_SIZE: u32 = 128;
const FRAMES_PER_SECOND: u32 = 10;
const DURATION_SECONDS: u32 = 2;

/// One shape whose position and size move linearly from the first to the last
/// frame (equal start and end values keep it still).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Actor {
    pub kind: ShapeKind,
    pub colour: Colour,
    pub start: (f32, f32),
    pub end: (f32, f32),
    pub start_radius: f32,
    pub end_radius: f32,
}

impl Actor {
    /// A shape of constant size travelling from `start` to `end`.
    pub fn moving(kind: ShapeKind, colour: Colour, start: (f32, f32), end: (f32, f32)) -> Actor {
        Actor {
            kind,
            colour,
            start,
            end,
            start_radius: 0.14,
            end_radius: 0.14,
        }
    }

    /// A shape that stays in place and changes size.
    pub fn scaling(kind: ShapeKind, colour: Colour, start_radius: f32, end_radius: f32) -> Actor {
        Actor {
            kind,
            colour,
            start: (0.5, 0.5),
            end: (0.5, 0.5),
            start_radius,
            end_radius,
        }
    }

    fn at(&self, progress: f32) -> Shape {
        let blend = |from: f32, to: f32| from + (to - from) * progress;
        Shape::new(
            self.kind,
            self.colour,
            blend(self.start.0, self.end.0),
            blend(self.start.1, self.end.1),
            blend(self.start_radius, self.end_radius),
        )
    }
}

/// A video: a background and the shapes animated on it.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub background: Colour,
    pub actors: Vec<Actor>,
}

impl Clip {
    pub fn new(background: Colour, actors: Vec<Actor>) -> Clip {
        Clip { background, actors }
    }

    /// The scene shown at `progress` (0 = first frame, 1 = last frame).
    pub fn scene_at(&self, progress: f32) -> Scene {
        Scene::new(
            self.background,
            self.actors.iter().map(|actor| actor.at(progress)).collect(),
        )
    }
}

/// Renders and encodes a clip as MP4 (H.264, yuv420p, no audio).
pub fn encode_mp4(clip: &Clip, scratch: &mut ScratchDirectory) -> Result<Vec<u8>> {
    let frame_count = FRAMES_PER_SECOND * DURATION_SECONDS;
    // Raw RGB frames in one file avoid a PNG round trip per frame and keep
    // ffmpeg's input format trivial.
    let mut raw_frames = Vec::new();
    for frame_index in 0..frame_count {
        let progress = frame_index as f32 / (frame_count - 1) as f32;
        raw_frames.extend_from_slice(
            clip.scene_at(progress)
                .rasterise(FRAME_SIZE, FRAME_SIZE)
                .as_raw(),
        );
    }
    let raw_path = scratch.file("rgb");
    std::fs::write(&raw_path, &raw_frames)
        .with_context(|| format!("writing {}", raw_path.display()))?;

    let video_path = scratch.file("mp4");
    let frame_size = format!("{FRAME_SIZE}x{FRAME_SIZE}");
    let frame_rate = FRAMES_PER_SECOND.to_string();
    let mut command = std::process::Command::new("ffmpeg");
    command
        .args(["-nostdin", "-y", "-hide_banner", "-loglevel", "error"])
        .args(["-f", "rawvideo", "-pixel_format", "rgb24"])
        .args(["-video_size", &frame_size, "-framerate", &frame_rate])
        .arg("-i")
        .arg(&raw_path)
        .args(["-c:v", "libx264", "-preset", "medium", "-crf", "30"])
        .args(["-pix_fmt", "yuv420p", "-an"]);
    external::finish_ffmpeg(&mut command, &video_path);
    external::run(&mut command)?;
    external::read_output(&video_path)
}
