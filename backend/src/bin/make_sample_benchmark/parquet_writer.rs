//! Writes one benchmark config as a Parquet file shaped like a Hugging Face
//! `datasets` export: string columns as Utf8, `Image`/`Audio` features as a
//! struct of `bytes` and `path`, and the `huggingface` schema metadata that
//! describes the features.

use anyhow::{Context, Result, ensure};
use arrow_array::{ArrayRef, BinaryArray, RecordBatch, StringArray, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Schema metadata key under which `datasets` records the features.
const HUGGINGFACE_KEY: &str = "huggingface";

/// One cell of an `Image` or `Audio` column: the encoded file, its path, or
/// both (as `datasets` stores them).
#[derive(Clone, Debug, PartialEq)]
pub struct MediaCell {
    pub bytes: Option<Vec<u8>>,
    pub path: Option<String>,
}

/// The Hugging Face feature type of a media column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaFeature {
    Image,
    Audio,
}

impl MediaFeature {
    fn type_name(self) -> &'static str {
        match self {
            MediaFeature::Image => "Image",
            MediaFeature::Audio => "Audio",
        }
    }
}

/// The values of one column.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    Text(Vec<String>),
    Media(MediaFeature, Vec<MediaCell>),
}

impl ColumnValues {
    fn len(&self) -> usize {
        match self {
            ColumnValues::Text(values) => values.len(),
            ColumnValues::Media(_, cells) => cells.len(),
        }
    }
}

/// A named column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: ColumnValues,
}

impl Column {
    pub fn text(name: &str, values: Vec<String>) -> Column {
        Column {
            name: name.to_owned(),
            values: ColumnValues::Text(values),
        }
    }

    pub fn media(name: &str, feature: MediaFeature, cells: Vec<MediaCell>) -> Column {
        Column {
            name: name.to_owned(),
            values: ColumnValues::Media(feature, cells),
        }
    }
}

/// The struct layout `datasets` uses for `Image` and `Audio` features.
fn media_fields() -> Fields {
    Fields::from(vec![
        Field::new("bytes", DataType::Binary, true),
        Field::new("path", DataType::Utf8, true),
    ])
}

/// The `huggingface` schema metadata value. It is assembled by hand rather
/// than through a `serde_json` map because the feature order must follow the
/// column order, and it uses Python's `json.dumps` separators so the text
/// matches what `datasets` writes.
fn huggingface_metadata(columns: &[Column]) -> Result<String> {
    let mut features = Vec::with_capacity(columns.len());
    for column in columns {
        let feature = match &column.values {
            ColumnValues::Text(_) => r#"{"dtype": "string", "_type": "Value"}"#.to_owned(),
            ColumnValues::Media(feature, _) => {
                format!(r#"{{"_type": "{}"}}"#, feature.type_name())
            }
        };
        let name = serde_json::to_string(&column.name).context("quoting a column name")?;
        features.push(format!("{name}: {feature}"));
    }
    Ok(format!(
        r#"{{"info": {{"features": {{{}}}}}}}"#,
        features.join(", ")
    ))
}

/// Writes the columns as a single-row-group, Snappy-compressed Parquet file.
pub fn write_table(path: &Path, columns: &[Column]) -> Result<()> {
    let row_count = columns.first().map_or(0, |column| column.values.len());
    for column in columns {
        ensure!(
            column.values.len() == row_count,
            "column {} has {} rows, expected {row_count}",
            column.name,
            column.values.len()
        );
    }

    let mut fields = Vec::with_capacity(columns.len());
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for column in columns {
        match &column.values {
            ColumnValues::Text(values) => {
                fields.push(Field::new(&column.name, DataType::Utf8, false));
                arrays.push(Arc::new(StringArray::from_iter_values(values)));
            }
            ColumnValues::Media(_, cells) => {
                let bytes: BinaryArray = cells.iter().map(|cell| cell.bytes.as_deref()).collect();
                let paths: StringArray = cells.iter().map(|cell| cell.path.as_deref()).collect();
                let array = StructArray::try_new(
                    media_fields(),
                    vec![Arc::new(bytes) as ArrayRef, Arc::new(paths) as ArrayRef],
                    None,
                )
                .with_context(|| format!("building media column {}", column.name))?;
                fields.push(Field::new(
                    &column.name,
                    DataType::Struct(media_fields()),
                    false,
                ));
                arrays.push(Arc::new(array));
            }
        }
    }

    let features = huggingface_metadata(columns)?;
    let metadata = HashMap::from([(HUGGINGFACE_KEY.to_owned(), features.clone())]);
    let schema = Arc::new(Schema::new_with_metadata(fields, metadata));
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)
        .with_context(|| format!("assembling the record batch for {}", path.display()))?;

    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        // One row group for the whole (small) table.
        .set_max_row_group_row_count(Some(row_count.max(1)))
        // The Arrow writer only stores schema metadata inside the encoded
        // `ARROW:schema` entry; pyarrow (and so `datasets`) also exposes it as
        // a plain Parquet key-value pair, which readers may look for.
        .set_key_value_metadata(Some(vec![KeyValue::new(
            HUGGINGFACE_KEY.to_owned(),
            features,
        )]))
        .build();
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
        .with_context(|| format!("starting Parquet writer for {}", path.display()))?;
    writer
        .write(&batch)
        .with_context(|| format!("writing rows to {}", path.display()))?;
    writer
        .close()
        .with_context(|| format!("finishing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_lists_features_in_column_order() -> Result<()> {
        let columns = vec![
            Column::text("prompt", vec!["p".to_owned()]),
            Column::media(
                "image",
                MediaFeature::Image,
                vec![MediaCell {
                    bytes: None,
                    path: Some("a.png".to_owned()),
                }],
            ),
        ];
        let metadata = huggingface_metadata(&columns)?;
        assert_eq!(
            metadata,
            r#"{"info": {"features": {"prompt": {"dtype": "string", "_type": "Value"}, "image": {"_type": "Image"}}}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&metadata)?;
        assert_eq!(parsed["info"]["features"]["image"]["_type"], "Image");
        Ok(())
    }
}
