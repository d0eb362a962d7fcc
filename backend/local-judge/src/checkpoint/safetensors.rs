//! The safetensors header: read and validated without touching tensor data, so that a lying or
//! truncated weights file is refused before anything maps it into memory.
//!
//! Format (<https://github.com/huggingface/safetensors#format>): an 8-byte little-endian header
//! length `N`, `N` bytes of UTF-8 JSON, then the data section that the tensors tile exactly.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

use super::CheckpointError;

/// Bytes of the little-endian header length that opens every safetensors file.
pub const LENGTH_PREFIX_BYTES: u64 = 8;

/// The largest header accepted. The reference library refuses headers over 100,000,000 bytes,
/// so anything larger could never be loaded and only serves to make the parser allocate.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The key of the optional string-to-string metadata object inside the header.
const METADATA_KEY: &str = "__metadata__";

/// An element type a safetensors file may declare, spelled as in the reference library.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dtype {
    /// `BOOL`: one byte per element.
    Bool,
    /// `F4`: 4-bit microscaling float.
    F4,
    /// `F6_E2M3`: 6-bit microscaling float.
    F6E2M3,
    /// `F6_E3M2`: 6-bit microscaling float.
    F6E3M2,
    /// `U8`.
    U8,
    /// `I8`.
    I8,
    /// `F8_E5M2`.
    F8E5M2,
    /// `F8_E4M3`.
    F8E4M3,
    /// `F8_E8M0`.
    F8E8M0,
    /// `I16`.
    I16,
    /// `U16`.
    U16,
    /// `F16`.
    F16,
    /// `BF16`.
    BF16,
    /// `I32`.
    I32,
    /// `U32`.
    U32,
    /// `F32`.
    F32,
    /// `C64`: complex number of two `F32`.
    C64,
    /// `F64`.
    F64,
    /// `I64`.
    I64,
    /// `U64`.
    U64,
}

impl Dtype {
    /// Every dtype, in the reference library's order.
    pub const ALL: [Dtype; 20] = [
        Dtype::Bool,
        Dtype::F4,
        Dtype::F6E2M3,
        Dtype::F6E3M2,
        Dtype::U8,
        Dtype::I8,
        Dtype::F8E5M2,
        Dtype::F8E4M3,
        Dtype::F8E8M0,
        Dtype::I16,
        Dtype::U16,
        Dtype::F16,
        Dtype::BF16,
        Dtype::I32,
        Dtype::U32,
        Dtype::F32,
        Dtype::C64,
        Dtype::F64,
        Dtype::I64,
        Dtype::U64,
    ];

    /// The name used in safetensors headers, e.g. `BF16`.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::Bool => "BOOL",
            Dtype::F4 => "F4",
            Dtype::F6E2M3 => "F6_E2M3",
            Dtype::F6E3M2 => "F6_E3M2",
            Dtype::U8 => "U8",
            Dtype::I8 => "I8",
            Dtype::F8E5M2 => "F8_E5M2",
            Dtype::F8E4M3 => "F8_E4M3",
            Dtype::F8E8M0 => "F8_E8M0",
            Dtype::I16 => "I16",
            Dtype::U16 => "U16",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I32 => "I32",
            Dtype::U32 => "U32",
            Dtype::F32 => "F32",
            Dtype::C64 => "C64",
            Dtype::F64 => "F64",
            Dtype::I64 => "I64",
            Dtype::U64 => "U64",
        }
    }

    /// The dtype with this header name, if it is one the format defines.
    pub fn from_name(name: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|dtype| dtype.name() == name)
    }

    /// Bits per element; sizes are counted in bits because `F4` and `F6_*` pack below a byte.
    pub fn bits(self) -> u64 {
        match self {
            Dtype::F4 => 4,
            Dtype::F6E2M3 | Dtype::F6E3M2 => 6,
            Dtype::Bool | Dtype::U8 | Dtype::I8 | Dtype::F8E5M2 | Dtype::F8E4M3 | Dtype::F8E8M0 => {
                8
            }
            Dtype::I16 | Dtype::U16 | Dtype::F16 | Dtype::BF16 => 16,
            Dtype::I32 | Dtype::U32 | Dtype::F32 => 32,
            Dtype::C64 | Dtype::F64 | Dtype::I64 | Dtype::U64 => 64,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

impl Serialize for Dtype {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One tensor's entry in a validated header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions, row-major; empty for a scalar.
    pub shape: Vec<u64>,
    /// `[begin, end)` of the tensor's bytes, relative to the start of the data section.
    pub data_offsets: [u64; 2],
}

impl TensorInfo {
    /// Number of elements (1 for a scalar). Saturates instead of overflowing, which cannot happen
    /// for an entry that came out of [`SafetensorsHeader::read`].
    pub fn element_count(&self) -> u64 {
        self.shape
            .iter()
            .fold(1_u64, |count, &dimension| count.saturating_mul(dimension))
    }

    /// Bytes the tensor occupies in the data section.
    pub fn byte_count(&self) -> u64 {
        self.data_offsets[1].saturating_sub(self.data_offsets[0])
    }
}

/// A safetensors header whose every tensor was checked against the file it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetensorsHeader {
    /// Tensors by name.
    pub tensors: BTreeMap<String, TensorInfo>,
    /// The free-form `__metadata__` object (empty when absent).
    pub metadata: BTreeMap<String, String>,
    /// File offset of the data section: 8 + header length.
    pub data_start: u64,
    /// Size of the whole file in bytes.
    pub file_size: u64,
}

impl SafetensorsHeader {
    /// Reads and validates the header of the safetensors file at `path`; errors name `path`.
    pub fn read(path: &Path) -> Result<SafetensorsHeader, CheckpointError> {
        SafetensorsHeader::read_named(path, path)
    }

    /// Reads the header of `path` but names the file `name` in errors, so that a checkpoint
    /// folder can report paths relative to itself.
    pub(crate) fn read_named(
        path: &Path,
        name: &Path,
    ) -> Result<SafetensorsHeader, CheckpointError> {
        let io = |source| CheckpointError::Io {
            file: name.to_path_buf(),
            source,
        };
        let header_error = |message: String| CheckpointError::Header {
            file: name.to_path_buf(),
            tensor: None,
            message,
        };
        let mut file = File::open(path).map_err(io)?;
        let file_size = file.metadata().map_err(io)?.len();
        if file_size < LENGTH_PREFIX_BYTES {
            return Err(header_error(format!(
                "the file is {file_size} bytes, too short for the {LENGTH_PREFIX_BYTES}-byte header length"
            )));
        }
        let mut prefix = [0_u8; 8];
        file.read_exact(&mut prefix).map_err(io)?;
        let header_length = u64::from_le_bytes(prefix);
        if header_length > MAX_HEADER_BYTES {
            return Err(header_error(format!(
                "the header length {header_length} exceeds the limit of {MAX_HEADER_BYTES} bytes"
            )));
        }
        let available = file_size - LENGTH_PREFIX_BYTES;
        if header_length > available {
            return Err(header_error(format!(
                "the header length {header_length} exceeds the {available} bytes that follow it"
            )));
        }
        let capacity = usize::try_from(header_length).map_err(|_| {
            header_error(format!(
                "the header length {header_length} does not fit in memory"
            ))
        })?;
        let mut json = Vec::with_capacity(capacity);
        file.by_ref()
            .take(header_length)
            .read_to_end(&mut json)
            .map_err(io)?;
        if json.len() != capacity {
            return Err(header_error(format!(
                "the file ended after {} of the {header_length} header bytes",
                json.len()
            )));
        }
        parse(name, &json, header_length, file_size)
    }

    /// Total number of elements over all tensors.
    pub fn parameter_count(&self) -> u64 {
        self.tensors.values().fold(0, |total, tensor| {
            total.saturating_add(tensor.element_count())
        })
    }

    /// Total bytes of tensor data; for a validated header this is the whole data section.
    pub fn total_bytes(&self) -> u64 {
        self.tensors
            .values()
            .fold(0, |total, tensor| total.saturating_add(tensor.byte_count()))
    }

    /// Size of the data section: everything after the header.
    pub fn data_size(&self) -> u64 {
        self.file_size.saturating_sub(self.data_start)
    }
}

/// The header's top-level entries in file order, kept as a list so that a repeated name is seen
/// (a map would silently keep one of them, and loaders disagree on which).
struct HeaderEntries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for HeaderEntries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;

        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = HeaderEntries;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object mapping tensor names to their descriptions")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderEntries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(HeaderEntries(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// A tensor description as written, before its dtype and sizes are checked.
#[derive(Deserialize)]
struct RawTensorInfo {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Validates the header JSON of a file of `file_size` bytes whose header is `header_length` bytes.
fn parse(
    name: &Path,
    json: &[u8],
    header_length: u64,
    file_size: u64,
) -> Result<SafetensorsHeader, CheckpointError> {
    let error = |tensor: Option<&str>, message: String| CheckpointError::Header {
        file: name.to_path_buf(),
        tensor: tensor.map(str::to_owned),
        message,
    };
    let text = std::str::from_utf8(json)
        .map_err(|cause| error(None, format!("the header is not UTF-8: {cause}")))?;
    let HeaderEntries(entries) = serde_json::from_str(text)
        .map_err(|cause| error(None, format!("the header is not valid JSON: {cause}")))?;
    let data_start = LENGTH_PREFIX_BYTES + header_length;
    let data_size = file_size - data_start;

    let mut tensors = BTreeMap::new();
    let mut metadata = None;
    for (key, value) in entries {
        if key == METADATA_KEY {
            if metadata.is_some() {
                return Err(error(None, format!("`{METADATA_KEY}` appears twice")));
            }
            metadata = Some(parse_metadata(value).map_err(|message| error(None, message))?);
            continue;
        }
        if tensors.contains_key(&key) {
            return Err(error(Some(&key), "the tensor appears twice".to_owned()));
        }
        let tensor =
            parse_tensor(value, data_size).map_err(|message| error(Some(&key), message))?;
        tensors.insert(key, tensor);
    }
    check_layout(&tensors, data_size).map_err(|(tensor, message)| error(tensor, message))?;
    Ok(SafetensorsHeader {
        tensors,
        metadata: metadata.unwrap_or_default(),
        data_start,
        file_size,
    })
}

fn parse_metadata(value: Value) -> Result<BTreeMap<String, String>, String> {
    let not_strings = || format!("`{METADATA_KEY}` must be an object of strings");
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(object) => object
            .into_iter()
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key, text)),
                _ => Err(not_strings()),
            })
            .collect(),
        _ => Err(not_strings()),
    }
}

/// Checks one tensor on its own: known dtype, ordered offsets inside the data section, and a
/// byte range exactly as long as its shape and dtype require.
fn parse_tensor(value: Value, data_size: u64) -> Result<TensorInfo, String> {
    let raw: RawTensorInfo = serde_json::from_value(value).map_err(|cause| {
        format!("expected {{\"dtype\", \"shape\": [..], \"data_offsets\": [begin, end]}}: {cause}")
    })?;
    let dtype =
        Dtype::from_name(&raw.dtype).ok_or_else(|| format!("unknown dtype `{}`", raw.dtype))?;
    let [begin, end] = raw.data_offsets;
    if end < begin {
        return Err(format!(
            "data_offsets [{begin}, {end}] end before they begin"
        ));
    }
    let overflow = || format!("shape {:?} of {dtype} overflows 64 bits", raw.shape);
    let elements = raw
        .shape
        .iter()
        .try_fold(1_u64, |count, &dimension| count.checked_mul(dimension))
        .ok_or_else(overflow)?;
    let bits = elements.checked_mul(dtype.bits()).ok_or_else(overflow)?;
    if !bits.is_multiple_of(8) {
        return Err(format!(
            "shape {:?} of {dtype} is {bits} bits, not a whole number of bytes",
            raw.shape
        ));
    }
    let bytes = bits / 8;
    if end - begin != bytes {
        return Err(format!(
            "shape {:?} of {dtype} needs {bytes} bytes but data_offsets [{begin}, {end}] span {}",
            raw.shape,
            end - begin
        ));
    }
    if end > data_size {
        return Err(format!(
            "data_offsets [{begin}, {end}] reach past the {data_size}-byte data section (truncated file?)"
        ));
    }
    Ok(TensorInfo {
        dtype,
        shape: raw.shape,
        data_offsets: raw.data_offsets,
    })
}

/// Checks that the tensors tile the data section from its first byte to its last, as the
/// reference library requires: an overlap would let two tensors alias, a gap or a tail would hide
/// bytes that no tensor accounts for.
fn check_layout(
    tensors: &BTreeMap<String, TensorInfo>,
    data_size: u64,
) -> Result<(), (Option<&str>, String)> {
    let mut by_offset: Vec<(&str, [u64; 2])> = tensors
        .iter()
        .map(|(name, tensor)| (name.as_str(), tensor.data_offsets))
        .collect();
    // Sorting by (begin, end) puts an empty tensor before a non-empty one starting at the same
    // byte, which is the order in which both may legally share an offset.
    by_offset.sort_by_key(|&(name, offsets)| (offsets, name));
    let mut covered = 0_u64;
    let mut previous: Option<&str> = None;
    for (name, [begin, end]) in by_offset {
        if begin < covered {
            let other = previous.unwrap_or_default();
            return Err((
                Some(name),
                format!(
                    "data_offsets [{begin}, {end}] overlap tensor `{other}`, which ends at {covered}"
                ),
            ));
        }
        if begin > covered {
            return Err((
                Some(name),
                format!(
                    "bytes {covered}..{begin} before data_offsets [{begin}, {end}] belong to no tensor"
                ),
            ));
        }
        covered = end;
        previous = Some(name);
    }
    if covered != data_size {
        return Err((
            None,
            format!(
                "bytes {covered}..{data_size} at the end of the data section belong to no tensor"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;

    /// One tensor entry to write into a test file, with whatever offsets the test wants.
    pub(crate) struct TestTensor<'a> {
        pub(crate) name: &'a str,
        pub(crate) dtype: &'a str,
        pub(crate) shape: &'a [u64],
        pub(crate) data_offsets: [u64; 2],
    }

    /// Encodes a safetensors file from explicit entries and `data_size` bytes of data.
    pub(crate) fn encode(tensors: &[TestTensor<'_>], data_size: usize) -> Vec<u8> {
        let mut header = serde_json::Map::new();
        header.insert(METADATA_KEY.to_owned(), json!({"format": "pt"}));
        for tensor in tensors {
            header.insert(
                tensor.name.to_owned(),
                json!({"dtype": tensor.dtype, "shape": tensor.shape, "data_offsets": tensor.data_offsets}),
            );
        }
        encode_header(&Value::Object(header).to_string(), data_size)
    }

    /// Encodes a raw header text followed by `data_size` bytes of data; the header is padded
    /// with spaces to a multiple of 8 bytes, as the reference writer does.
    pub(crate) fn encode_header(header: &str, data_size: usize) -> Vec<u8> {
        let mut header = header.as_bytes().to_vec();
        while !header.len().is_multiple_of(8) {
            header.push(b' ');
        }
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(&header);
        bytes.extend((0..data_size).map(|index| (index % 251) as u8));
        bytes
    }

    /// Encodes a valid file of F32 tensors laid out one after the other.
    pub(crate) fn encode_f32(tensors: &[(&str, &[u64])]) -> Vec<u8> {
        let mut offset = 0;
        let entries: Vec<TestTensor<'_>> = tensors
            .iter()
            .map(|&(name, shape)| {
                let bytes = shape.iter().product::<u64>() * 4;
                let entry = TestTensor {
                    name,
                    dtype: "F32",
                    shape,
                    data_offsets: [offset, offset + bytes],
                };
                offset += bytes;
                entry
            })
            .collect();
        encode(&entries, offset as usize)
    }

    fn write(folder: &tempfile::TempDir, bytes: &[u8]) -> PathBuf {
        let path = folder.path().join("model.safetensors");
        std::fs::write(&path, bytes).expect("write test file");
        path
    }

    fn header_error(bytes: &[u8]) -> (PathBuf, Option<String>, String) {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = write(&folder, bytes);
        match SafetensorsHeader::read(&path) {
            Err(CheckpointError::Header {
                file,
                tensor,
                message,
            }) => {
                assert_eq!(file, path, "the error names the file");
                (file, tensor, message)
            }
            other => panic!("expected a header error, got {other:?}"),
        }
    }

    #[test]
    fn valid_file_reports_tensors_parameters_and_bytes() {
        let folder = tempfile::tempdir().expect("temp dir");
        let path = write(
            &folder,
            &encode_f32(&[
                ("embeddings.weight", &[10, 4]),
                ("score.bias", &[1]),
                ("scale", &[]),
            ]),
        );
        let header = SafetensorsHeader::read(&path).expect("valid file");
        assert_eq!(header.tensors.len(), 3);
        assert_eq!(header.parameter_count(), 40 + 1 + 1);
        assert_eq!(header.total_bytes(), 42 * 4);
        assert_eq!(header.data_size(), 42 * 4);
        assert_eq!(header.file_size, header.data_start + 42 * 4);
        assert_eq!(
            header.metadata.get("format").map(String::as_str),
            Some("pt")
        );
        assert_eq!(
            header.tensors["score.bias"],
            TensorInfo {
                dtype: Dtype::F32,
                shape: vec![1],
                data_offsets: [160, 164],
            }
        );
    }

    #[test]
    fn mixed_dtypes_empty_tensors_and_sub_byte_types_are_accepted() {
        let bytes = encode(
            &[
                TestTensor {
                    name: "empty",
                    dtype: "F32",
                    shape: &[0, 3],
                    data_offsets: [0, 0],
                },
                TestTensor {
                    name: "half",
                    dtype: "BF16",
                    shape: &[3],
                    data_offsets: [0, 6],
                },
                TestTensor {
                    name: "mask",
                    dtype: "BOOL",
                    shape: &[2],
                    data_offsets: [6, 8],
                },
                TestTensor {
                    name: "packed",
                    dtype: "F4",
                    shape: &[4],
                    data_offsets: [8, 10],
                },
            ],
            10,
        );
        let folder = tempfile::tempdir().expect("temp dir");
        let header = SafetensorsHeader::read(&write(&folder, &bytes)).expect("valid file");
        assert_eq!(header.parameter_count(), 3 + 2 + 4);
        assert_eq!(header.tensors["packed"].dtype, Dtype::F4);
    }

    #[test]
    fn truncated_file_is_refused() {
        let mut bytes = encode_f32(&[("a", &[4]), ("b", &[4])]);
        bytes.truncate(bytes.len() - 6);
        let (_, tensor, message) = header_error(&bytes);
        assert_eq!(tensor.as_deref(), Some("b"));
        assert!(message.contains("past"), "{message}");
    }

    #[test]
    fn file_shorter_than_the_length_prefix_is_refused() {
        let (_, _, message) = header_error(&[1, 0, 0]);
        assert!(message.contains("too short"), "{message}");
    }

    #[test]
    fn header_length_beyond_the_file_is_refused() {
        let mut bytes = encode_f32(&[("a", &[4])]);
        let lie = (bytes.len() as u64).to_le_bytes();
        bytes[..8].copy_from_slice(&lie);
        let (_, _, message) = header_error(&bytes);
        assert!(message.contains("exceeds"), "{message}");
    }

    #[test]
    fn header_length_over_the_limit_is_refused() {
        let mut bytes = encode_f32(&[("a", &[4])]);
        bytes[..8].copy_from_slice(&(MAX_HEADER_BYTES + 1).to_le_bytes());
        let (_, _, message) = header_error(&bytes);
        assert!(message.contains("limit"), "{message}");
    }

    #[test]
    fn shape_that_lies_about_its_size_names_the_tensor() {
        let bytes = encode(
            &[
                TestTensor {
                    name: "ok",
                    dtype: "F32",
                    shape: &[2],
                    data_offsets: [0, 8],
                },
                TestTensor {
                    name: "liar",
                    dtype: "F32",
                    shape: &[4, 4],
                    data_offsets: [8, 16],
                },
            ],
            16,
        );
        let (_, tensor, message) = header_error(&bytes);
        assert_eq!(tensor.as_deref(), Some("liar"));
        assert!(message.contains("needs 64 bytes"), "{message}");
    }

    #[test]
    fn overflowing_shape_is_refused() {
        let bytes = encode(
            &[TestTensor {
                name: "huge",
                dtype: "F64",
                shape: &[u64::MAX / 2, 3],
                data_offsets: [0, 8],
            }],
            8,
        );
        let (_, tensor, message) = header_error(&bytes);
        assert_eq!(tensor.as_deref(), Some("huge"));
        assert!(message.contains("overflows"), "{message}");
    }

    #[test]
    fn overlapping_ranges_are_refused() {
        let bytes = encode(
            &[
                TestTensor {
                    name: "first",
                    dtype: "F32",
                    shape: &[2],
                    data_offsets: [0, 8],
                },
                TestTensor {
                    name: "second",
                    dtype: "F32",
                    shape: &[2],
                    data_offsets: [4, 12],
                },
            ],
            12,
        );
        let (_, tensor, message) = header_error(&bytes);
        assert_eq!(tensor.as_deref(), Some("second"));
        assert!(message.contains("overlap tensor `first`"), "{message}");
    }

    #[test]
    fn gaps_and_trailing_bytes_are_refused() {
        let gap = encode(
            &[
                TestTensor {
                    name: "first",
                    dtype: "F32",
                    shape: &[1],
                    data_offsets: [0, 4],
                },
                TestTensor {
                    name: "second",
                    dtype: "F32",
                    shape: &[1],
                    data_offsets: [8, 12],
                },
            ],
            12,
        );
        let (_, tensor, message) = header_error(&gap);
        assert_eq!(tensor.as_deref(), Some("second"));
        assert!(message.contains("4..8"), "{message}");

        let tail = encode(
            &[TestTensor {
                name: "only",
                dtype: "F32",
                shape: &[1],
                data_offsets: [0, 4],
            }],
            10,
        );
        let (_, tensor, message) = header_error(&tail);
        assert_eq!(tensor, None);
        assert!(message.contains("4..10"), "{message}");
    }

    #[test]
    fn unknown_dtype_is_refused() {
        let bytes = encode(
            &[TestTensor {
                name: "weird",
                dtype: "F128",
                shape: &[1],
                data_offsets: [0, 16],
            }],
            16,
        );
        let (_, tensor, message) = header_error(&bytes);
        assert_eq!(tensor.as_deref(), Some("weird"));
        assert!(message.contains("unknown dtype `F128`"), "{message}");
    }

    #[test]
    fn reversed_offsets_are_refused() {
        let bytes = encode(
            &[TestTensor {
                name: "backwards",
                dtype: "U8",
                shape: &[0],
                data_offsets: [4, 0],
            }],
            4,
        );
        let (_, tensor, message) = header_error(&bytes);
        assert_eq!(tensor.as_deref(), Some("backwards"));
        assert!(message.contains("end before"), "{message}");
    }

    #[test]
    fn malformed_headers_are_refused() {
        let duplicate = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#;
        let (_, tensor, message) = header_error(&encode_header(duplicate, 1));
        assert_eq!(tensor.as_deref(), Some("a"));
        assert!(message.contains("twice"), "{message}");

        let (_, _, message) = header_error(&encode_header("[1, 2]", 0));
        assert!(message.contains("not valid JSON"), "{message}");

        let (_, tensor, _) = header_error(&encode_header(r#"{"a":{"dtype":"U8"}}"#, 0));
        assert_eq!(tensor.as_deref(), Some("a"));

        let metadata = r#"{"__metadata__":{"epoch":3}}"#;
        let (_, _, message) = header_error(&encode_header(metadata, 0));
        assert!(message.contains("object of strings"), "{message}");

        let mut not_utf8 = encode_header("{}", 0);
        not_utf8[8] = 0xff;
        let (_, _, message) = header_error(&not_utf8);
        assert!(message.contains("UTF-8"), "{message}");
    }

    #[test]
    fn every_dtype_name_round_trips() {
        for dtype in Dtype::ALL {
            assert_eq!(Dtype::from_name(dtype.name()), Some(dtype));
        }
        assert_eq!(Dtype::from_name("f32"), None);
    }
}
