//! Turns the catalog into the Hugging Face release layout: the column set of
//! each config, how its media are stored (embedded in the Parquet file or as
//! files under `media_data/`), and the rendering and de-duplication of the
//! media files themselves.

use crate::audio;
use crate::catalog::{Asset, Comparison, Content, Media, TaskCatalog};
use crate::external::ScratchDirectory;
use crate::images;
use crate::parquet_writer::{self, Column, MediaCell, MediaFeature};
use crate::render3d;
use crate::video;
use anyhow::{Context, Result, bail};
use omnireward_shared::{Label, Task};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Folder, inside the output directory, that holds the media referenced by
/// path.
pub const MEDIA_FOLDER: &str = "media_data";

/// Where the bytes of an `Image` or `Audio` cell live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Storage {
    /// In the struct's `bytes` field; no copy under `media_data/`.
    Embedded,
    /// Only under `media_data/`; `bytes` is null and `path` points there.
    MediaFile,
}

/// How one side of the comparison (the input or a response) is represented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Text,
    /// A string column holding a path under `media_data/`.
    VideoPath,
    Image(Storage),
    Audio(Storage),
}

/// The columns of a config: the input slot (absent for text-only prompts) and
/// the slot of both responses.
struct Layout {
    input: Option<Slot>,
    response: Slot,
}

fn layout(task: Task) -> Layout {
    // Embedded and path-only media are split between configs so that both
    // ways a release can store media (bytes in the Parquet file, or files
    // under media_data/) are exercised by whoever loads the sample.
    let (input, response) = match task {
        Task::TextToText => (None, Slot::Text),
        Task::TextImageToText => (Some(Slot::Image(Storage::Embedded)), Slot::Text),
        Task::TextVideoToText => (Some(Slot::VideoPath), Slot::Text),
        Task::TextAudioToText => (Some(Slot::Audio(Storage::Embedded)), Slot::Text),
        Task::TextToImage => (None, Slot::Image(Storage::Embedded)),
        Task::TextToVideo => (None, Slot::VideoPath),
        Task::TextToAudio => (None, Slot::Audio(Storage::MediaFile)),
        Task::TextTo3d => (None, Slot::Image(Storage::MediaFile)),
        Task::TextImageToImage => (
            Some(Slot::Image(Storage::Embedded)),
            Slot::Image(Storage::Embedded),
        ),
    };
    Layout { input, response }
}

/// Name of the input column of a slot, as in the release.
fn input_column_name(slot: Slot) -> &'static str {
    match slot {
        Slot::Text => "input",
        Slot::VideoPath => "video",
        Slot::Image(_) => "image",
        Slot::Audio(_) => "audio",
    }
}

/// Renders media files once and remembers them, so a file shared by several
/// rows is synthesised (and written) only once.
pub struct MediaLibrary {
    output_directory: PathBuf,
    rendered: BTreeMap<String, (Media, Vec<u8>)>,
    written: BTreeSet<String>,
    scratch: ScratchDirectory,
}

impl MediaLibrary {
    pub fn new(output_directory: &Path, scratch: ScratchDirectory) -> MediaLibrary {
        MediaLibrary {
            output_directory: output_directory.to_owned(),
            rendered: BTreeMap::new(),
            written: BTreeSet::new(),
            scratch,
        }
    }

    /// The file's bytes, rendering it on first use.
    fn bytes(&mut self, relative_path: &str, media: &Media) -> Result<Vec<u8>> {
        if let Some((known_media, bytes)) = self.rendered.get(relative_path) {
            if known_media != media {
                bail!("two different media share the path {relative_path}");
            }
            return Ok(bytes.clone());
        }
        let bytes = render(media, &mut self.scratch)
            .with_context(|| format!("rendering {relative_path}"))?;
        self.rendered
            .insert(relative_path.to_owned(), (media.clone(), bytes.clone()));
        Ok(bytes)
    }

    /// Writes the file under `media_data/`, once however many rows use it.
    fn store_file(&mut self, relative_path: &str, media: &Media) -> Result<()> {
        let bytes = self.bytes(relative_path, media)?;
        if self.written.insert(relative_path.to_owned()) {
            let path = self.output_directory.join(MEDIA_FOLDER).join(relative_path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }
}

fn render(media: &Media, scratch: &mut ScratchDirectory) -> Result<Vec<u8>> {
    match media {
        Media::Picture(scene) => images::scene_png(scene),
        Media::Render(model) => images::encode_png(&render3d::render_views(model)),
        Media::Clip(clip) => video::encode_mp4(clip, scratch),
        Media::Sound(sound) => audio::sound_wav(sound, scratch),
        Media::SpokenQuestion(question) => audio::speech_mp3(question, scratch),
    }
}

/// Path of an asset relative to `media_data/`, e.g.
/// `text_to_image/t2i-red-circle.png`.
fn relative_path(task: Task, asset: &Asset) -> String {
    format!("{}/{}.{}", task.key(), asset.name, asset.media.extension())
}

/// The values one slot contributes to a row: the main cell and, for `Image`
/// and `Audio`, the companion `*_path` string.
enum Cell {
    Text(String),
    Media(MediaCell, String),
}

fn cell(task: Task, slot: Slot, content: &Content, library: &mut MediaLibrary) -> Result<Cell> {
    let asset = match content {
        Content::Text(value) if slot == Slot::Text => return Ok(Cell::Text(value.clone())),
        Content::Asset(asset) if slot != Slot::Text => asset,
        Content::Text(value) => bail!("{task:?}: expected media, found text {value:?}"),
        Content::Asset(asset) => bail!("{task:?}: expected text, found media {}", asset.name),
    };
    let media_matches_slot = matches!(
        (&asset.media, slot),
        (Media::Clip(_), Slot::VideoPath)
            | (Media::Picture(_) | Media::Render(_), Slot::Image(_))
            | (Media::Sound(_) | Media::SpokenQuestion(_), Slot::Audio(_))
    );
    if !media_matches_slot {
        bail!("{task:?}: {} does not fit a {slot:?} column", asset.name);
    }
    let path = relative_path(task, asset);
    let storage = match slot {
        Slot::Image(storage) | Slot::Audio(storage) => storage,
        // Videos are always files, referenced by a plain path string.
        Slot::Text | Slot::VideoPath => {
            library.store_file(&path, &asset.media)?;
            return Ok(Cell::Text(path));
        }
    };
    let media_cell = match storage {
        Storage::Embedded => {
            let file_name = format!("{}.{}", asset.name, asset.media.extension());
            MediaCell {
                bytes: Some(library.bytes(&path, &asset.media)?),
                path: Some(file_name),
            }
        }
        Storage::MediaFile => {
            library.store_file(&path, &asset.media)?;
            MediaCell {
                bytes: None,
                path: Some(path.clone()),
            }
        }
    };
    Ok(Cell::Media(media_cell, path))
}

/// Accumulates the values of one slot across rows.
struct SlotColumns {
    slot: Slot,
    texts: Vec<String>,
    cells: Vec<MediaCell>,
    paths: Vec<String>,
}

impl SlotColumns {
    fn new(slot: Slot) -> SlotColumns {
        SlotColumns {
            slot,
            texts: Vec::new(),
            cells: Vec::new(),
            paths: Vec::new(),
        }
    }

    fn push(&mut self, cell: Cell) {
        match cell {
            Cell::Text(value) => self.texts.push(value),
            Cell::Media(media_cell, path) => {
                self.cells.push(media_cell);
                self.paths.push(path);
            }
        }
    }

    /// The main column of the slot.
    fn main_column(&self, name: &str) -> Column {
        match self.slot {
            Slot::Text | Slot::VideoPath => Column::text(name, self.texts.clone()),
            Slot::Image(_) => Column::media(name, MediaFeature::Image, self.cells.clone()),
            Slot::Audio(_) => Column::media(name, MediaFeature::Audio, self.cells.clone()),
        }
    }

    /// The `<name>_path` column, for `Image` and `Audio` slots only.
    fn path_column(&self, name: &str) -> Option<Column> {
        matches!(self.slot, Slot::Image(_) | Slot::Audio(_))
            .then(|| Column::text(&format!("{name}_path"), self.paths.clone()))
    }
}

/// Per-task label counts, for the README and the console summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskSummary {
    pub config_name: String,
    pub rows: usize,
    pub ties: usize,
    pub response1: usize,
    pub response2: usize,
}

/// Builds and writes `<config>/test-00000-of-00001.parquet` for one task,
/// writing its path-stored media as it goes.
pub fn write_task(
    task: Task,
    output_directory: &Path,
    library: &mut MediaLibrary,
) -> Result<TaskSummary> {
    let comparisons: Vec<Comparison> = task.comparisons();
    let layout = layout(task);
    let mut input_columns = layout.input.map(SlotColumns::new);
    let mut response1_columns = SlotColumns::new(layout.response);
    let mut response2_columns = SlotColumns::new(layout.response);
    let mut plain: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut summary = TaskSummary {
        config_name: task.key().to_owned(),
        ..TaskSummary::default()
    };

    for (comparison_index, comparison) in comparisons.iter().enumerate() {
        let (model1, model2) = task.model_names(comparison_index);
        for judgement in &comparison.judgements {
            summary.rows += 1;
            match judgement.preference {
                Label::Response1 => summary.response1 += 1,
                Label::Response2 => summary.response2 += 1,
                Label::Tie => summary.ties += 1,
            }
            match (&mut input_columns, &comparison.input) {
                (Some(columns), Some(input)) => {
                    let content = Content::Asset(input.clone());
                    columns.push(cell(task, columns.slot, &content, library)?);
                }
                (None, None) => {}
                (Some(_), None) => bail!(
                    "{task:?}: comparison {:?} lacks its input",
                    comparison.prompt
                ),
                (None, Some(input)) => bail!("{task:?}: unexpected input {}", input.name),
            }
            response1_columns.push(cell(task, layout.response, &comparison.response1, library)?);
            response2_columns.push(cell(task, layout.response, &comparison.response2, library)?);
            // The paper's short task name, lower-cased, as the row id prefix.
            let id = format!("{}-{:04}", task.short_name().to_lowercase(), summary.rows);
            for (name, value) in [
                ("prompt", comparison.prompt.clone()),
                ("model1", model1.clone()),
                ("model2", model2.clone()),
                ("criteria", judgement.criterion.clone()),
                ("criteria_preference", judgement.preference.key().to_owned()),
                ("id", id),
            ] {
                plain.entry(name).or_default().push(value);
            }
        }
    }

    let mut take = |name: &str| Column::text(name, plain.remove(name).unwrap_or_default());
    // Column order of the Hugging Face release: prompt, the input, the
    // responses, the annotation, the id, then the `*_path` companions.
    let mut columns = vec![take("prompt")];
    if let (Some(slot_columns), Some(slot)) = (&input_columns, layout.input) {
        columns.push(slot_columns.main_column(input_column_name(slot)));
    }
    columns.push(response1_columns.main_column("response1"));
    columns.push(response2_columns.main_column("response2"));
    for name in ["model1", "model2", "criteria", "criteria_preference", "id"] {
        columns.push(take(name));
    }
    if let (Some(slot_columns), Some(slot)) = (&input_columns, layout.input) {
        columns.extend(slot_columns.path_column(input_column_name(slot)));
    }
    columns.extend(response1_columns.path_column("response1"));
    columns.extend(response2_columns.path_column("response2"));

    let config_directory = output_directory.join(task.key());
    std::fs::create_dir_all(&config_directory)
        .with_context(|| format!("creating {}", config_directory.display()))?;
    parquet_writer::write_table(
        &config_directory.join("test-00000-of-00001.parquet"),
        &columns,
    )?;
    Ok(summary)
}
