//! Reads the bytes behind a [`MediaRef`]: a file, or one cell of a parquet struct column.

use std::fs::File;
use std::path::PathBuf;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_schema::DataType;
use omnireward_shared::{MediaLocation, MediaRef};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection, RowSelector};

/// Why media bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum MediaReadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The parquet cell could not be read or is not where the reference says.
    #[error("{file}: row group {row_group}, row {row}, column `{column}`: {message}")]
    Parquet {
        /// The parquet file.
        file: PathBuf,
        /// Row group.
        row_group: usize,
        /// Row within the group.
        row: usize,
        /// Column.
        column: String,
        /// What went wrong.
        message: String,
    },
}

/// Reads all bytes of one media item.
pub fn read_media(media: &MediaRef) -> Result<Vec<u8>, MediaReadError> {
    match &media.location {
        MediaLocation::File { path } => std::fs::read(path).map_err(|source| MediaReadError::Io {
            path: PathBuf::from(path),
            source,
        }),
        MediaLocation::ParquetCell {
            file,
            row_group,
            row,
            column,
            ..
        } => {
            let error = |message: String| MediaReadError::Parquet {
                file: PathBuf::from(file),
                row_group: *row_group,
                row: *row,
                column: column.clone(),
                message,
            };
            let handle = File::open(file).map_err(|source| MediaReadError::Io {
                path: PathBuf::from(file),
                source,
            })?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(handle)
                .map_err(|e| error(e.to_string()))?;
            let root_index = builder
                .parquet_schema()
                .root_schema()
                .get_fields()
                .iter()
                .position(|field| field.name() == column)
                .ok_or_else(|| error("no such column".to_owned()))?;
            let projection = ProjectionMask::roots(builder.parquet_schema(), [root_index]);
            let selection =
                RowSelection::from(vec![RowSelector::skip(*row), RowSelector::select(1)]);
            let reader = builder
                .with_row_groups(vec![*row_group])
                .with_projection(projection)
                .with_row_selection(selection)
                .with_batch_size(1)
                .build()
                .map_err(|e| error(e.to_string()))?;
            for batch in reader {
                let batch = batch.map_err(|e| error(e.to_string()))?;
                if batch.num_rows() == 0 {
                    continue;
                }
                let structure = batch
                    .column(0)
                    .as_struct_opt()
                    .ok_or_else(|| error("not a struct column".to_owned()))?;
                let bytes = structure
                    .column_by_name("bytes")
                    .ok_or_else(|| error("struct has no `bytes` field".to_owned()))?;
                if bytes.is_null(0) {
                    return Err(error("bytes are null".to_owned()));
                }
                let value = match bytes.data_type() {
                    DataType::Binary => bytes.as_binary::<i32>().value(0).to_vec(),
                    DataType::LargeBinary => bytes.as_binary::<i64>().value(0).to_vec(),
                    DataType::BinaryView => bytes.as_binary_view().value(0).to_vec(),
                    other => return Err(error(format!("`bytes` has type {other}"))),
                };
                return Ok(value);
            }
            Err(error("row not found".to_owned()))
        }
    }
}
