//! Checkpoint folders: a Hugging Face model folder (config, tokenizer, safetensors weights)
//! checked for safety and consistency before anything loads it, shared by local evaluation and
//! by checkpoint uploads, where a malicious folder must be refused before it is queued.
//!
//! [`CheckpointFolder::inspect`] reads only JSON files and safetensors headers, never tensor
//! data, and does blocking file I/O: call it off the async runtime.

pub mod safetensors;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

pub use self::safetensors::{Dtype, SafetensorsHeader, TensorInfo};

/// The model configuration, required.
pub const CONFIG_FILE: &str = "config.json";
/// The `tokenizers` definition, required.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// Tokenizer options, optional; may hold the chat template.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";
/// The chat template as a separate file, written by recent `transformers` releases; when
/// present it overrides the one in [`TOKENIZER_CONFIG_FILE`], as `transformers` does.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";
/// Weights in one file.
pub const SINGLE_WEIGHTS_FILE: &str = "model.safetensors";
/// Index of sharded weights: `{"metadata": {..}, "weight_map": {tensor: shard file}}`.
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";
/// The value head trl's `AutoModelForCausalLMWithValueHead` saves beside the model
/// (`v_head.summary.weight` and `.bias`), as Skywork-VL-Reward ships it.
pub const VALUE_HEAD_FILE: &str = "value_head.safetensors";

/// The vision-language architectures that are reward models only with a reward head: without
/// one they are generative judges.
const CONDITIONAL_GENERATION_ARCHITECTURES: [&str; 2] = [
    "Qwen2VLForConditionalGeneration",
    "Qwen2_5_VLForConditionalGeneration",
];

/// Tensors that make a vision-language checkpoint a reward model: trl's value head (in
/// [`VALUE_HEAD_FILE`] or the shards) or a sequence-classification `score` head.
const REWARD_HEAD_TENSORS: [&str; 2] = ["v_head.summary.weight", "score.weight"];

/// Extensions (compared without case) of pickle-based files, which can run arbitrary code when
/// loaded and are therefore refused anywhere in a checkpoint folder.
pub const PICKLE_EXTENSIONS: [&str; 6] = ["bin", "pt", "pth", "pkl", "pickle", "ckpt"];

/// The `architectures` a local judge can run: sequence-classification reward models, the
/// embedding models used as baselines, and Qwen2-VL / Qwen2.5-VL models with a reward head.
pub const SUPPORTED_ARCHITECTURES: [&str; 14] = [
    "BertForSequenceClassification",
    "DebertaV2ForSequenceClassification",
    "ModernBertForSequenceClassification",
    "XLMRobertaForSequenceClassification",
    "Qwen2ForSequenceClassification",
    "Qwen3ForSequenceClassification",
    "LlamaForSequenceClassification",
    "CLIPModel",
    "SiglipModel",
    "BertModel",
    "Qwen2VLForConditionalGeneration",
    "Qwen2_5_VLForConditionalGeneration",
    "Qwen2VLForSequenceClassification",
    "MiniCPMO",
];

/// Architectures that are reward models only with trl's value head (MiniCPM-o: the head is
/// what makes it Omni-RewardModel-BT).
const VALUE_HEAD_ARCHITECTURES: [&str; 1] = ["MiniCPMO"];

/// The largest JSON or template file read whole; large-vocabulary `tokenizer.json` files reach
/// about 35 MB, so this leaves room while bounding what an upload can make us allocate.
pub const MAX_TEXT_FILE_BYTES: u64 = 128 * 1024 * 1024;

/// Why a checkpoint folder was refused.
///
/// Files are named relative to the checkpoint folder, so that a message can be shown to whoever
/// uploaded it without revealing where the server keeps it; only the folder itself is named as
/// given.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// A file or folder could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file or folder.
        file: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The path is not a folder.
    #[error("{}: not a folder", folder.display())]
    NotAFolder {
        /// The path as given.
        folder: PathBuf,
    },
    /// Pickle files are present.
    #[error(
        "pickle files can run code when loaded and are refused (convert them to safetensors or remove them): {}",
        list_paths(files)
    )]
    PickleFiles {
        /// Every pickle file found, sorted.
        files: Vec<PathBuf>,
    },
    /// A symbolic link resolves outside the folder, or to nothing.
    #[error(
        "{}: symbolic link to {} leaves the checkpoint folder or points nowhere",
        file.display(),
        target.display()
    )]
    SymlinkEscape {
        /// The link.
        file: PathBuf,
        /// Its target as written in the link.
        target: PathBuf,
    },
    /// A required file is absent (or not a regular file).
    #[error("{}: required file is missing", file.display())]
    MissingFile {
        /// The file.
        file: PathBuf,
    },
    /// Neither weights layout is present.
    #[error("no weights: expected {SINGLE_WEIGHTS_FILE} or {WEIGHTS_INDEX_FILE}")]
    MissingWeights,
    /// Both weights layouts are present, so loaders could disagree on which one to use.
    #[error("both {SINGLE_WEIGHTS_FILE} and {WEIGHTS_INDEX_FILE} are present; keep one")]
    AmbiguousWeights,
    /// A JSON file does not parse, is not an object, or is too large.
    #[error("{}: invalid JSON: {message}", file.display())]
    InvalidJson {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A field of a JSON file (or a template file) has the wrong form.
    #[error("{}: field `{field}`: {message}", file.display())]
    InvalidField {
        /// The file.
        file: PathBuf,
        /// The field, e.g. `architectures` or `weight_map.lm_head.weight`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A safetensors header is invalid: truncated file, lying length, unknown dtype, size
    /// mismatch, overlap, gap or out-of-bounds offsets.
    #[error("{}: invalid safetensors header: {}", file.display(), with_tensor(tensor.as_deref(), message))]
    Header {
        /// The weights file.
        file: PathBuf,
        /// The tensor at fault, when one is.
        tensor: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// The weights index names a shard file that is absent.
    #[error("{}: shard {} is missing", index.display(), shard.display())]
    MissingShard {
        /// The index file.
        index: PathBuf,
        /// The missing shard.
        shard: PathBuf,
    },
    /// The weights index places a tensor in a shard that does not hold it.
    #[error("{}: tensor `{tensor}` listed in {WEIGHTS_INDEX_FILE} is not in this shard", shard.display())]
    MissingTensor {
        /// The shard the index names.
        shard: PathBuf,
        /// The tensor.
        tensor: String,
    },
    /// Two shards hold a tensor of the same name, so which one loads would be arbitrary.
    #[error(
        "tensor `{tensor}` is in both {} and {}",
        first_shard.display(),
        second_shard.display()
    )]
    DuplicateTensor {
        /// The tensor.
        tensor: String,
        /// The first shard holding it, in file-name order.
        first_shard: PathBuf,
        /// The other shard holding it.
        second_shard: PathBuf,
    },
    /// A vision-language checkpoint without a reward head: a generative judge.
    #[error(
        "{}: {architecture} without a reward head ({VALUE_HEAD_FILE}, `v_head.summary.*` or \
         `score.*` weights) is a generative vision-language judge: it judges through the \
         generation engine (`GenerativeModel`), not as a reward model",
        file.display()
    )]
    GenerativeVisionLanguage {
        /// The configuration file.
        file: PathBuf,
        /// The architecture listed.
        architecture: String,
    },
    /// A checkpoint that is a reward model only with a value head, without one.
    #[error(
        "{}: {architecture} without a value head ({VALUE_HEAD_FILE} or `v_head.summary.*` in the \
         weights) is not a reward model; Omni-RewardModel-BT ships its head as {VALUE_HEAD_FILE}",
        file.display()
    )]
    MissingValueHead {
        /// The configuration file.
        file: PathBuf,
        /// The architecture listed.
        architecture: String,
    },
    /// No listed architecture can be run here.
    #[error(
        "{}: architecture {} is not supported; supported: {}",
        file.display(),
        list_found(found),
        supported.join(", ")
    )]
    UnsupportedArchitecture {
        /// The configuration file.
        file: PathBuf,
        /// The `architectures` the configuration lists (possibly none).
        found: Vec<String>,
        /// [`SUPPORTED_ARCHITECTURES`].
        supported: Vec<&'static str>,
    },
}

fn list_paths(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|file| file.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_found(found: &[String]) -> String {
    if found.is_empty() {
        "(none listed)".to_owned()
    } else {
        found.join(", ")
    }
}

fn with_tensor(tensor: Option<&str>, message: &str) -> String {
    match tensor {
        Some(tensor) => format!("tensor `{tensor}`: {message}"),
        None => message.to_owned(),
    }
}

/// One safetensors file of a checkpoint, with its validated header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightShard {
    /// File name inside the checkpoint folder.
    pub file_name: String,
    /// The validated header.
    pub header: SafetensorsHeader,
}

/// A checkpoint folder that passed every check: no pickle files, no escaping links, a
/// configuration, a tokenizer, and consistent safetensors weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointFolder {
    /// The folder, canonicalized.
    pub path: PathBuf,
    /// `architectures` from `config.json` (empty when absent).
    pub architectures: Vec<String>,
    /// `model_type` from `config.json`.
    pub model_type: Option<String>,
    /// The default chat template, from `chat_template.jinja` or `tokenizer_config.json`.
    pub chat_template: Option<String>,
    /// The weights files in file-name order: one for a single file, every shard otherwise.
    pub shards: Vec<WeightShard>,
    /// The index's `weight_map` (tensor name to shard file), for sharded weights.
    pub weight_map: Option<BTreeMap<String, String>>,
    /// [`VALUE_HEAD_FILE`] with its validated header, when the folder has one.
    pub value_head: Option<WeightShard>,
}

/// What a checkpoint holds, for reports and API responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointSummary {
    /// `architectures` from `config.json`.
    pub architectures: Vec<String>,
    /// `model_type` from `config.json`.
    pub model_type: Option<String>,
    /// Whether a local judge can run it.
    pub architecture_supported: bool,
    /// Every tensor dtype present, by name.
    pub dtypes: Vec<Dtype>,
    /// Total number of weight elements.
    pub parameter_count: u64,
    /// Total bytes of weight data.
    pub total_weight_bytes: u64,
    /// Weights file names.
    pub shards: Vec<String>,
    /// Whether a default chat template was found.
    pub has_chat_template: bool,
}

impl CheckpointFolder {
    /// Checks the folder at `path` and reads what it holds. The architecture is not checked
    /// here, so that an unsupported checkpoint can still be described; see
    /// [`CheckpointFolder::require_supported_architecture`].
    pub fn inspect(path: &Path) -> Result<CheckpointFolder, CheckpointError> {
        let not_a_folder = || CheckpointError::NotAFolder {
            folder: path.to_path_buf(),
        };
        let root_io = |source| CheckpointError::Io {
            file: path.to_path_buf(),
            source,
        };
        match fs::metadata(path) {
            Ok(metadata) if metadata.is_dir() => {}
            Ok(_) => return Err(not_a_folder()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(not_a_folder()),
            Err(error) => return Err(root_io(error)),
        }
        let root = fs::canonicalize(path).map_err(root_io)?;
        scan_for_unsafe_files(&root)?;

        let config = read_json_object(&root, CONFIG_FILE)?.ok_or_else(|| missing(CONFIG_FILE))?;
        let mut architectures = string_list_field(&config, "architectures")?;
        // transformers 4.57 writes a vision-language model's `architectures` into its
        // `text_config` only (the top level has none): read it there when the top is silent.
        if architectures.is_empty()
            && let Some(Value::Object(text_config)) = config.get("text_config")
        {
            architectures = string_list_field(text_config, "architectures").map_err(|_| {
                invalid_field(
                    CONFIG_FILE,
                    "text_config.architectures",
                    "expected a list of strings",
                )
            })?;
        }
        let model_type = optional_string_field(&config, "model_type")?;
        check_tokenizer(&root)?;
        let chat_template = read_chat_template(&root)?;
        let (shards, weight_map) = read_weights(&root)?;
        let value_head = match fs::symlink_metadata(root.join(VALUE_HEAD_FILE)) {
            Ok(_) => Some(WeightShard {
                file_name: VALUE_HEAD_FILE.to_owned(),
                header: read_shard(&root, VALUE_HEAD_FILE)?,
            }),
            Err(_) => None,
        };
        Ok(CheckpointFolder {
            path: root,
            architectures,
            model_type,
            chat_template,
            shards,
            weight_map,
            value_head,
        })
    }

    /// The architecture a loader should build: the first supported one listed, else the first.
    pub fn architecture(&self) -> Option<&str> {
        self.supported_architecture()
            .or_else(|| self.architectures.first().map(String::as_str))
    }

    /// Whether one of the listed architectures is in [`SUPPORTED_ARCHITECTURES`] (with the
    /// reward head a vision-language one needs).
    pub fn architecture_supported(&self) -> bool {
        self.require_supported_architecture().is_ok()
    }

    /// The first listed architecture that is supported, or an error listing the supported ones;
    /// a vision-language architecture also needs a reward head, else it is refused as a
    /// generative judge.
    pub fn require_supported_architecture(&self) -> Result<&'static str, CheckpointError> {
        let architecture = self.supported_architecture().ok_or_else(|| {
            CheckpointError::UnsupportedArchitecture {
                file: PathBuf::from(CONFIG_FILE),
                found: self.architectures.clone(),
                supported: SUPPORTED_ARCHITECTURES.to_vec(),
            }
        })?;
        if VALUE_HEAD_ARCHITECTURES.contains(&architecture) && !self.has_value_head() {
            return Err(CheckpointError::MissingValueHead {
                file: PathBuf::from(CONFIG_FILE),
                architecture: architecture.to_owned(),
            });
        }
        if CONDITIONAL_GENERATION_ARCHITECTURES.contains(&architecture) && !self.has_reward_head() {
            return Err(CheckpointError::GenerativeVisionLanguage {
                file: PathBuf::from(CONFIG_FILE),
                architecture: architecture.to_owned(),
            });
        }
        Ok(architecture)
    }

    /// Whether the weights (or [`VALUE_HEAD_FILE`]) hold trl's value head.
    pub fn has_value_head(&self) -> bool {
        self.shards
            .iter()
            .chain(&self.value_head)
            .any(|shard| shard.header.tensors.contains_key("v_head.summary.weight"))
    }

    /// Whether the weights (or [`VALUE_HEAD_FILE`]) hold a value head or a `score` head.
    pub fn has_reward_head(&self) -> bool {
        self.shards.iter().chain(&self.value_head).any(|shard| {
            REWARD_HEAD_TENSORS
                .iter()
                .any(|name| shard.header.tensors.contains_key(*name))
        })
    }

    fn supported_architecture(&self) -> Option<&'static str> {
        self.architectures.iter().find_map(|listed| {
            SUPPORTED_ARCHITECTURES
                .into_iter()
                .find(|supported| supported == listed)
        })
    }

    /// Every dtype present in the weights.
    pub fn dtypes(&self) -> BTreeSet<Dtype> {
        self.weight_shards()
            .flat_map(|shard| shard.header.tensors.values().map(|tensor| tensor.dtype))
            .collect()
    }

    /// Total number of weight elements over all shards (and the value head).
    pub fn parameter_count(&self) -> u64 {
        self.weight_shards().fold(0, |total, shard| {
            total.saturating_add(shard.header.parameter_count())
        })
    }

    /// Total bytes of weight data over all shards (and the value head).
    pub fn total_weight_bytes(&self) -> u64 {
        self.weight_shards().fold(0, |total, shard| {
            total.saturating_add(shard.header.total_bytes())
        })
    }

    /// Full paths of the weights files, in file-name order, then [`VALUE_HEAD_FILE`] when
    /// present: what a loader reads and what the weights' hash covers (another value head is
    /// another model).
    pub fn weight_files(&self) -> Vec<PathBuf> {
        self.weight_shards()
            .map(|shard| self.path.join(&shard.file_name))
            .collect()
    }

    /// The shards, then the value head.
    fn weight_shards(&self) -> impl Iterator<Item = &WeightShard> {
        self.shards.iter().chain(&self.value_head)
    }

    /// Whether a default chat template was found.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// What the checkpoint holds, for a report.
    pub fn summary(&self) -> CheckpointSummary {
        CheckpointSummary {
            architectures: self.architectures.clone(),
            model_type: self.model_type.clone(),
            architecture_supported: self.architecture_supported(),
            dtypes: self.dtypes().into_iter().collect(),
            parameter_count: self.parameter_count(),
            total_weight_bytes: self.total_weight_bytes(),
            shards: self
                .weight_shards()
                .map(|shard| shard.file_name.clone())
                .collect(),
            has_chat_template: self.has_chat_template(),
        }
    }
}

fn missing(file: &str) -> CheckpointError {
    CheckpointError::MissingFile {
        file: PathBuf::from(file),
    }
}

fn invalid_field(file: &str, field: &str, message: impl Into<String>) -> CheckpointError {
    CheckpointError::InvalidField {
        file: PathBuf::from(file),
        field: field.to_owned(),
        message: message.into(),
    }
}

fn is_pickle(path: &Path) -> bool {
    path.extension()
        .and_then(|extension| extension.to_str())
        .is_some_and(|extension| {
            PICKLE_EXTENSIONS
                .iter()
                .any(|pickle| extension.eq_ignore_ascii_case(pickle))
        })
}

/// Walks the whole folder (without following links) for pickle files and for links that leave
/// it. Pickles are reported first and all together, so that one refusal lists every file to fix.
fn scan_for_unsafe_files(root: &Path) -> Result<(), CheckpointError> {
    let mut pickles = Vec::new();
    let mut escape = None;
    let mut pending = vec![PathBuf::new()];
    while let Some(relative_folder) = pending.pop() {
        let folder_io = |source| CheckpointError::Io {
            file: if relative_folder.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                relative_folder.clone()
            },
            source,
        };
        let mut entries = fs::read_dir(root.join(&relative_folder))
            .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
            .map_err(folder_io)?;
        entries.sort_by_key(fs::DirEntry::file_name);
        for entry in entries {
            let relative = relative_folder.join(entry.file_name());
            let file_type = entry.file_type().map_err(|source| CheckpointError::Io {
                file: relative.clone(),
                source,
            })?;
            if is_pickle(&relative) {
                pickles.push(relative.clone());
            }
            if file_type.is_symlink() {
                if escape.is_none() && !link_stays_inside(root, &entry.path()) {
                    let target = fs::read_link(entry.path()).unwrap_or_default();
                    escape = Some(CheckpointError::SymlinkEscape {
                        file: relative,
                        target,
                    });
                }
            } else if file_type.is_dir() {
                pending.push(relative);
            }
        }
    }
    if !pickles.is_empty() {
        pickles.sort();
        return Err(CheckpointError::PickleFiles { files: pickles });
    }
    escape.map_or(Ok(()), Err)
}

/// Whether the link resolves (through any chain of links) to a path inside `root`; a dangling
/// or looping link counts as leaving, since its target could be created later.
fn link_stays_inside(root: &Path, link: &Path) -> bool {
    fs::canonicalize(link).is_ok_and(|target| target.starts_with(root))
}

/// Reads a regular file of at most [`MAX_TEXT_FILE_BYTES`], or `None` when it does not exist.
fn read_small_file(root: &Path, name: &str) -> Result<Option<Vec<u8>>, CheckpointError> {
    let io = |source| CheckpointError::Io {
        file: PathBuf::from(name),
        source,
    };
    let path = root.join(name);
    // Checked before opening: opening a FIFO or device would block or read forever.
    match fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() => {}
        Ok(_) => {
            return Err(io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(error)),
    }
    let mut bytes = Vec::new();
    File::open(&path)
        .and_then(|file| file.take(MAX_TEXT_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > MAX_TEXT_FILE_BYTES {
        return Err(io(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than the {MAX_TEXT_FILE_BYTES}-byte limit"),
        )));
    }
    Ok(Some(bytes))
}

/// Reads a JSON file that must hold an object, or `None` when the file does not exist.
fn read_json_object(
    root: &Path,
    name: &str,
) -> Result<Option<Map<String, Value>>, CheckpointError> {
    let Some(bytes) = read_small_file(root, name)? else {
        return Ok(None);
    };
    let invalid = |message: String| CheckpointError::InvalidJson {
        file: PathBuf::from(name),
        message,
    };
    match serde_json::from_slice(&bytes).map_err(|cause| invalid(cause.to_string()))? {
        Value::Object(object) => Ok(Some(object)),
        _ => Err(invalid("expected a JSON object".to_owned())),
    }
}

fn string_list_field(
    object: &Map<String, Value>,
    field: &str,
) -> Result<Vec<String>, CheckpointError> {
    let wrong = || invalid_field(CONFIG_FILE, field, "expected a list of strings");
    match object.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(wrong))
            .collect(),
        Some(_) => Err(wrong()),
    }
}

fn optional_string_field(
    object: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, CheckpointError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid_field(CONFIG_FILE, field, "expected a string")),
    }
}

/// Any JSON object, its contents skipped without being built in memory: the tokenizer is
/// validated in depth by the `tokenizers` crate when it loads, and can be tens of megabytes.
struct AnyObject;

impl<'de> serde::Deserialize<'de> for AnyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;

        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = AnyObject;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AnyObject, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnyObject)
            }
        }

        deserializer.deserialize_map(ObjectVisitor)
    }
}

fn check_tokenizer(root: &Path) -> Result<(), CheckpointError> {
    let bytes = read_small_file(root, TOKENIZER_FILE)?.ok_or_else(|| missing(TOKENIZER_FILE))?;
    serde_json::from_slice::<AnyObject>(&bytes)
        .map(|_| ())
        .map_err(|cause| CheckpointError::InvalidJson {
            file: PathBuf::from(TOKENIZER_FILE),
            message: cause.to_string(),
        })
}

/// The default chat template: `chat_template.jinja` when present, else `chat_template` from
/// `tokenizer_config.json`, either a string or a list of `{name, template}` of which the one
/// named `default` is the one `transformers` applies without being told a name.
fn read_chat_template(root: &Path) -> Result<Option<String>, CheckpointError> {
    // Read first so that a malformed tokenizer_config.json is refused even when the template
    // comes from the separate file.
    let from_config = match read_json_object(root, TOKENIZER_CONFIG_FILE)? {
        Some(config) => chat_template_from_config(config.get("chat_template"))?,
        None => None,
    };
    if let Some(bytes) = read_small_file(root, CHAT_TEMPLATE_FILE)? {
        let template = String::from_utf8(bytes).map_err(|_| {
            invalid_field(
                CHAT_TEMPLATE_FILE,
                "chat_template",
                "the template is not UTF-8",
            )
        })?;
        return Ok(Some(template));
    }
    Ok(from_config)
}

fn chat_template_from_config(value: Option<&Value>) -> Result<Option<String>, CheckpointError> {
    let wrong = |field: &str| {
        invalid_field(
            TOKENIZER_CONFIG_FILE,
            field,
            "expected a string or a list of {\"name\": string, \"template\": string}",
        )
    };
    let items = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(template)) => return Ok(Some(template.clone())),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(wrong("chat_template")),
    };
    let mut default = None;
    for (position, item) in items.iter().enumerate() {
        let name = item.get("name").and_then(Value::as_str);
        let template = item.get("template").and_then(Value::as_str);
        let (Some(name), Some(template)) = (name, template) else {
            return Err(wrong(&format!("chat_template[{position}]")));
        };
        if name == "default" && default.is_none() {
            default = Some(template.to_owned());
        }
    }
    Ok(default)
}

type Weights = (Vec<WeightShard>, Option<BTreeMap<String, String>>);

fn read_weights(root: &Path) -> Result<Weights, CheckpointError> {
    let single = root.join(SINGLE_WEIGHTS_FILE);
    let index_exists = fs::symlink_metadata(root.join(WEIGHTS_INDEX_FILE)).is_ok();
    match (fs::symlink_metadata(&single).is_ok(), index_exists) {
        (true, true) => Err(CheckpointError::AmbiguousWeights),
        (false, false) => Err(CheckpointError::MissingWeights),
        (true, false) => {
            let header = read_shard(root, SINGLE_WEIGHTS_FILE)?;
            let shard = WeightShard {
                file_name: SINGLE_WEIGHTS_FILE.to_owned(),
                header,
            };
            Ok((vec![shard], None))
        }
        (false, true) => read_sharded_weights(root).map(|(shards, map)| (shards, Some(map))),
    }
}

fn read_shard(root: &Path, file_name: &str) -> Result<SafetensorsHeader, CheckpointError> {
    let path = root.join(file_name);
    // A FIFO or folder in place of a weights file is refused before it is opened.
    match fs::metadata(&path) {
        Ok(metadata) if metadata.is_file() => {}
        _ => return Err(missing(file_name)),
    }
    SafetensorsHeader::read_named(&path, Path::new(file_name))
}

/// Whether an index names its shard as a plain `.safetensors` file beside it: anything with a
/// separator or `..` could make us read outside the folder.
fn is_plain_shard_name(name: &str) -> bool {
    let path = Path::new(name);
    name.ends_with(".safetensors")
        && !name.contains(['/', '\\', '\0'])
        && path.file_name().is_some_and(|file_name| file_name == name)
}

fn read_sharded_weights(
    root: &Path,
) -> Result<(Vec<WeightShard>, BTreeMap<String, String>), CheckpointError> {
    let index =
        read_json_object(root, WEIGHTS_INDEX_FILE)?.ok_or_else(|| missing(WEIGHTS_INDEX_FILE))?;
    let Some(Value::Object(entries)) = index.get("weight_map") else {
        return Err(invalid_field(
            WEIGHTS_INDEX_FILE,
            "weight_map",
            "expected an object mapping tensor names to shard files",
        ));
    };
    if entries.is_empty() {
        return Err(invalid_field(
            WEIGHTS_INDEX_FILE,
            "weight_map",
            "lists no tensors",
        ));
    }
    let mut weight_map = BTreeMap::new();
    for (tensor, shard) in entries {
        let field = format!("weight_map.{tensor}");
        let shard = shard.as_str().ok_or_else(|| {
            invalid_field(WEIGHTS_INDEX_FILE, &field, "expected a shard file name")
        })?;
        if !is_plain_shard_name(shard) {
            return Err(invalid_field(
                WEIGHTS_INDEX_FILE,
                &field,
                format!("`{shard}` is not a .safetensors file name in the checkpoint folder"),
            ));
        }
        weight_map.insert(tensor.clone(), shard.to_owned());
    }

    let shard_names: BTreeSet<&str> = weight_map.values().map(String::as_str).collect();
    let mut shards = Vec::with_capacity(shard_names.len());
    for name in shard_names {
        if !fs::metadata(root.join(name)).is_ok_and(|metadata| metadata.is_file()) {
            return Err(CheckpointError::MissingShard {
                index: PathBuf::from(WEIGHTS_INDEX_FILE),
                shard: PathBuf::from(name),
            });
        }
        shards.push(WeightShard {
            file_name: name.to_owned(),
            header: read_shard(root, name)?,
        });
    }

    // Loaders such as candle's multi-file var builder route by tensor name over all shards, so a
    // name held twice would load from whichever file happens to come last.
    let mut holder: BTreeMap<&str, &str> = BTreeMap::new();
    for shard in &shards {
        for tensor in shard.header.tensors.keys() {
            if let Some(first) = holder.insert(tensor, &shard.file_name) {
                return Err(CheckpointError::DuplicateTensor {
                    tensor: tensor.clone(),
                    first_shard: PathBuf::from(first),
                    second_shard: PathBuf::from(&shard.file_name),
                });
            }
        }
    }
    for (tensor, shard) in &weight_map {
        if holder.get(tensor.as_str()) != Some(&shard.as_str()) {
            return Err(CheckpointError::MissingTensor {
                shard: PathBuf::from(shard),
                tensor: tensor.clone(),
            });
        }
    }
    Ok((shards, weight_map))
}

#[cfg(test)]
mod tests {
    use super::safetensors::tests::{TestTensor, encode, encode_f32};
    use super::*;

    const BERT_CONFIG: &str = r#"{"architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": 4}"#;

    /// Writes a minimal valid single-file checkpoint and returns its folder.
    fn single_file_checkpoint() -> tempfile::TempDir {
        let folder = tempfile::tempdir().expect("temp dir");
        write(&folder, CONFIG_FILE, BERT_CONFIG.as_bytes());
        write(
            &folder,
            TOKENIZER_FILE,
            br#"{"version": "1.0", "model": {"type": "WordPiece"}}"#,
        );
        write(
            &folder,
            SINGLE_WEIGHTS_FILE,
            &encode_f32(&[
                ("bert.embeddings.word_embeddings.weight", &[8, 4]),
                ("classifier.weight", &[1, 4]),
                ("classifier.bias", &[1]),
            ]),
        );
        folder
    }

    /// Writes a valid two-shard checkpoint with its index and returns its folder.
    fn sharded_checkpoint() -> tempfile::TempDir {
        let folder = tempfile::tempdir().expect("temp dir");
        write(
            &folder,
            CONFIG_FILE,
            br#"{"architectures": ["Qwen2ForSequenceClassification"], "model_type": "qwen2"}"#,
        );
        write(&folder, TOKENIZER_FILE, b"{}");
        write(
            &folder,
            "model-00001-of-00002.safetensors",
            &encode_f32(&[
                ("model.embed_tokens.weight", &[16, 4]),
                ("model.norm.weight", &[4]),
            ]),
        );
        write(
            &folder,
            "model-00002-of-00002.safetensors",
            &encode_f32(&[("score.weight", &[1, 4])]),
        );
        write_index(
            &folder,
            &[
                (
                    "model.embed_tokens.weight",
                    "model-00001-of-00002.safetensors",
                ),
                ("model.norm.weight", "model-00001-of-00002.safetensors"),
                ("score.weight", "model-00002-of-00002.safetensors"),
            ],
        );
        folder
    }

    fn write(folder: &tempfile::TempDir, name: &str, bytes: &[u8]) {
        let path = folder.path().join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent");
        }
        fs::write(path, bytes).expect("write test file");
    }

    fn write_index(folder: &tempfile::TempDir, entries: &[(&str, &str)]) {
        let weight_map: Map<String, Value> = entries
            .iter()
            .map(|&(tensor, shard)| (tensor.to_owned(), Value::from(shard)))
            .collect();
        let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": weight_map});
        write(folder, WEIGHTS_INDEX_FILE, index.to_string().as_bytes());
    }

    fn inspect_error(folder: &tempfile::TempDir) -> CheckpointError {
        match CheckpointFolder::inspect(folder.path()) {
            Ok(checkpoint) => panic!("expected an error, got {checkpoint:?}"),
            Err(error) => error,
        }
    }

    #[test]
    fn valid_single_file_checkpoint_reports_its_contents() {
        let folder = single_file_checkpoint();
        let checkpoint = CheckpointFolder::inspect(folder.path()).expect("valid checkpoint");
        assert_eq!(
            checkpoint.architecture(),
            Some("BertForSequenceClassification")
        );
        assert!(checkpoint.architecture_supported());
        assert_eq!(
            checkpoint
                .require_supported_architecture()
                .expect("supported"),
            "BertForSequenceClassification"
        );
        assert_eq!(checkpoint.parameter_count(), 32 + 4 + 1);
        assert_eq!(checkpoint.total_weight_bytes(), 37 * 4);
        assert_eq!(checkpoint.weight_map, None);
        assert_eq!(
            checkpoint.weight_files(),
            vec![
                fs::canonicalize(folder.path())
                    .expect("canonical")
                    .join(SINGLE_WEIGHTS_FILE)
            ]
        );
        let summary = checkpoint.summary();
        assert_eq!(
            serde_json::to_value(&summary).expect("serializes"),
            serde_json::json!({
                "architectures": ["BertForSequenceClassification"],
                "model_type": "bert",
                "architecture_supported": true,
                "dtypes": ["F32"],
                "parameter_count": 37,
                "total_weight_bytes": 148,
                "shards": ["model.safetensors"],
                "has_chat_template": false,
            })
        );
    }

    #[test]
    fn valid_two_shard_checkpoint_passes() {
        let folder = sharded_checkpoint();
        let checkpoint = CheckpointFolder::inspect(folder.path()).expect("valid checkpoint");
        let summary = checkpoint.summary();
        assert_eq!(
            summary.shards,
            vec![
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors"
            ]
        );
        assert_eq!(summary.parameter_count, 64 + 4 + 4);
        assert_eq!(summary.model_type.as_deref(), Some("qwen2"));
        assert_eq!(checkpoint.weight_map.as_ref().map(BTreeMap::len), Some(3));
    }

    #[test]
    fn truncated_weights_file_is_a_header_error_naming_the_file() {
        let folder = single_file_checkpoint();
        let path = folder.path().join(SINGLE_WEIGHTS_FILE);
        let mut bytes = fs::read(&path).expect("read");
        bytes.truncate(bytes.len() - 2);
        fs::write(&path, bytes).expect("write");
        match inspect_error(&folder) {
            CheckpointError::Header { file, tensor, .. } => {
                assert_eq!(file, PathBuf::from(SINGLE_WEIGHTS_FILE));
                assert_eq!(tensor.as_deref(), Some("classifier.bias"));
            }
            other => panic!("expected a header error, got {other:?}"),
        }
    }

    #[test]
    fn header_length_larger_than_the_file_is_refused() {
        let folder = sharded_checkpoint();
        let name = "model-00002-of-00002.safetensors";
        let path = folder.path().join(name);
        let mut bytes = fs::read(&path).expect("read");
        bytes[..8].copy_from_slice(&1_000_000_u64.to_le_bytes());
        fs::write(&path, bytes).expect("write");
        let error = inspect_error(&folder);
        assert!(
            matches!(&error, CheckpointError::Header { file, .. } if file == Path::new(name)),
            "{error:?}"
        );
        assert!(error.to_string().contains("exceeds"), "{error}");
    }

    #[test]
    fn weights_that_lie_about_sizes_overlap_or_use_unknown_dtypes_name_the_tensor() {
        let cases = [
            (
                encode(
                    &[TestTensor {
                        name: "score.weight",
                        dtype: "F32",
                        shape: &[2, 4],
                        data_offsets: [0, 16],
                    }],
                    16,
                ),
                "needs 32 bytes",
            ),
            (
                encode(
                    &[
                        TestTensor {
                            name: "a",
                            dtype: "F16",
                            shape: &[4],
                            data_offsets: [0, 8],
                        },
                        TestTensor {
                            name: "score.weight",
                            dtype: "F16",
                            shape: &[4],
                            data_offsets: [6, 14],
                        },
                    ],
                    14,
                ),
                "overlap",
            ),
            (
                encode(
                    &[TestTensor {
                        name: "score.weight",
                        dtype: "Q4_K",
                        shape: &[4],
                        data_offsets: [0, 4],
                    }],
                    4,
                ),
                "unknown dtype",
            ),
        ];
        for (bytes, expected) in cases {
            let folder = single_file_checkpoint();
            write(&folder, SINGLE_WEIGHTS_FILE, &bytes);
            let error = inspect_error(&folder);
            assert!(
                matches!(&error, CheckpointError::Header { tensor: Some(tensor), .. } if tensor == "score.weight"),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.starts_with("model.safetensors: "), "{message}");
        }
    }

    #[test]
    fn pickle_files_are_refused_even_beside_safetensors() {
        let folder = single_file_checkpoint();
        write(&folder, "pytorch_model.bin", b"\x80\x04pickle");
        write(&folder, "optimizer/state.PT", b"\x80\x04pickle");
        match inspect_error(&folder) {
            CheckpointError::PickleFiles { files } => assert_eq!(
                files,
                vec![
                    PathBuf::from("optimizer/state.PT"),
                    PathBuf::from("pytorch_model.bin")
                ]
            ),
            other => panic!("expected pickle files, got {other:?}"),
        }
    }

    #[test]
    fn missing_tokenizer_is_a_missing_file() {
        let folder = single_file_checkpoint();
        fs::remove_file(folder.path().join(TOKENIZER_FILE)).expect("remove");
        let error = inspect_error(&folder);
        assert!(
            matches!(&error, CheckpointError::MissingFile { file } if file == Path::new(TOKENIZER_FILE)),
            "{error:?}"
        );
    }

    #[test]
    fn missing_config_and_invalid_json_are_refused() {
        let folder = single_file_checkpoint();
        fs::remove_file(folder.path().join(CONFIG_FILE)).expect("remove");
        assert!(matches!(
            inspect_error(&folder),
            CheckpointError::MissingFile { file } if file == Path::new(CONFIG_FILE)
        ));

        write(&folder, CONFIG_FILE, b"[\"BertModel\"]");
        assert!(matches!(
            inspect_error(&folder),
            CheckpointError::InvalidJson { file, .. } if file == Path::new(CONFIG_FILE)
        ));

        write(&folder, CONFIG_FILE, br#"{"architectures": "BertModel"}"#);
        assert!(matches!(
            inspect_error(&folder),
            CheckpointError::InvalidField { file, field, .. }
                if file == Path::new(CONFIG_FILE) && field == "architectures"
        ));

        write(&folder, CONFIG_FILE, BERT_CONFIG.as_bytes());
        write(&folder, TOKENIZER_FILE, b"[]");
        assert!(matches!(
            inspect_error(&folder),
            CheckpointError::InvalidJson { file, .. } if file == Path::new(TOKENIZER_FILE)
        ));
    }

    #[test]
    fn missing_or_ambiguous_weights_are_refused() {
        let folder = single_file_checkpoint();
        write_index(&folder, &[("classifier.bias", SINGLE_WEIGHTS_FILE)]);
        assert!(matches!(
            inspect_error(&folder),
            CheckpointError::AmbiguousWeights
        ));
        fs::remove_file(folder.path().join(WEIGHTS_INDEX_FILE)).expect("remove");
        fs::remove_file(folder.path().join(SINGLE_WEIGHTS_FILE)).expect("remove");
        assert!(matches!(
            inspect_error(&folder),
            CheckpointError::MissingWeights
        ));
    }

    #[test]
    fn index_naming_a_missing_shard_is_refused() {
        let folder = sharded_checkpoint();
        fs::remove_file(folder.path().join("model-00002-of-00002.safetensors")).expect("remove");
        match inspect_error(&folder) {
            CheckpointError::MissingShard { index, shard } => {
                assert_eq!(index, PathBuf::from(WEIGHTS_INDEX_FILE));
                assert_eq!(shard, PathBuf::from("model-00002-of-00002.safetensors"));
            }
            other => panic!("expected a missing shard, got {other:?}"),
        }
    }

    #[test]
    fn index_naming_a_tensor_absent_from_its_shard_is_refused() {
        let folder = sharded_checkpoint();
        write_index(
            &folder,
            &[
                (
                    "model.embed_tokens.weight",
                    "model-00001-of-00002.safetensors",
                ),
                ("model.norm.weight", "model-00002-of-00002.safetensors"),
                ("score.weight", "model-00002-of-00002.safetensors"),
            ],
        );
        match inspect_error(&folder) {
            CheckpointError::MissingTensor { shard, tensor } => {
                assert_eq!(shard, PathBuf::from("model-00002-of-00002.safetensors"));
                assert_eq!(tensor, "model.norm.weight");
            }
            other => panic!("expected a missing tensor, got {other:?}"),
        }
    }

    #[test]
    fn tensor_held_by_two_shards_is_refused() {
        let folder = sharded_checkpoint();
        write(
            &folder,
            "model-00002-of-00002.safetensors",
            &encode_f32(&[("model.norm.weight", &[4]), ("score.weight", &[1, 4])]),
        );
        match inspect_error(&folder) {
            CheckpointError::DuplicateTensor {
                tensor,
                first_shard,
                second_shard,
            } => {
                assert_eq!(tensor, "model.norm.weight");
                assert_eq!(
                    first_shard,
                    PathBuf::from("model-00001-of-00002.safetensors")
                );
                assert_eq!(
                    second_shard,
                    PathBuf::from("model-00002-of-00002.safetensors")
                );
            }
            other => panic!("expected a duplicate tensor, got {other:?}"),
        }
    }

    #[test]
    fn index_naming_a_path_outside_the_folder_is_refused() {
        let folder = sharded_checkpoint();
        for shard in [
            "../model-00001-of-00002.safetensors",
            "sub/x.safetensors",
            "weights.bin",
            "..",
        ] {
            write_index(&folder, &[("score.weight", shard)]);
            let error = inspect_error(&folder);
            assert!(
                matches!(&error, CheckpointError::InvalidField { field, .. } if field == "weight_map.score.weight"),
                "{shard}: {error:?}"
            );
        }
    }

    #[test]
    fn unsupported_architecture_lists_the_supported_ones() {
        let folder = single_file_checkpoint();
        write(
            &folder,
            CONFIG_FILE,
            br#"{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}"#,
        );
        let checkpoint = CheckpointFolder::inspect(folder.path()).expect("structurally valid");
        assert!(!checkpoint.architecture_supported());
        assert_eq!(checkpoint.architecture(), Some("GPT2LMHeadModel"));
        assert!(!checkpoint.summary().architecture_supported);
        let error = checkpoint
            .require_supported_architecture()
            .expect_err("unsupported");
        let message = error.to_string();
        match error {
            CheckpointError::UnsupportedArchitecture {
                file,
                found,
                supported,
            } => {
                assert_eq!(file, PathBuf::from(CONFIG_FILE));
                assert_eq!(found, vec!["GPT2LMHeadModel".to_owned()]);
                assert_eq!(supported, SUPPORTED_ARCHITECTURES.to_vec());
            }
            other => panic!("expected an unsupported architecture, got {other:?}"),
        }
        assert!(message.contains("GPT2LMHeadModel"), "{message}");
        assert!(
            message.contains(
                "DebertaV2ForSequenceClassification, ModernBertForSequenceClassification"
            ),
            "{message}"
        );
    }

    #[test]
    fn chat_template_is_read_from_string_list_and_template_file() {
        let folder = single_file_checkpoint();
        let inspect = || CheckpointFolder::inspect(folder.path()).expect("valid checkpoint");

        write(
            &folder,
            TOKENIZER_CONFIG_FILE,
            br#"{"chat_template": "{{ messages }}"}"#,
        );
        assert_eq!(inspect().chat_template.as_deref(), Some("{{ messages }}"));
        assert!(inspect().summary().has_chat_template);

        write(
            &folder,
            TOKENIZER_CONFIG_FILE,
            br#"{"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}]}"#,
        );
        assert_eq!(inspect().chat_template.as_deref(), Some("plain"));

        write(
            &folder,
            TOKENIZER_CONFIG_FILE,
            br#"{"chat_template": [{"name": "tool_use", "template": "tools"}]}"#,
        );
        assert_eq!(inspect().chat_template, None);

        write(
            &folder,
            TOKENIZER_CONFIG_FILE,
            br#"{"model_max_length": 512}"#,
        );
        assert_eq!(inspect().chat_template, None);

        write(
            &folder,
            CHAT_TEMPLATE_FILE,
            b"{% for message in messages %}{% endfor %}",
        );
        assert_eq!(
            inspect().chat_template.as_deref(),
            Some("{% for message in messages %}{% endfor %}")
        );

        write(
            &folder,
            TOKENIZER_CONFIG_FILE,
            br#"{"chat_template": [{"name": "default"}]}"#,
        );
        let error = inspect_error(&folder);
        assert!(
            matches!(&error, CheckpointError::InvalidField { file, field, .. }
                if file == Path::new(TOKENIZER_CONFIG_FILE) && field == "chat_template[0]"),
            "{error:?}"
        );
    }

    #[test]
    fn a_file_is_not_a_folder() {
        let folder = single_file_checkpoint();
        let path = folder.path().join(CONFIG_FILE);
        assert!(matches!(
            CheckpointFolder::inspect(&path),
            Err(CheckpointError::NotAFolder { folder }) if folder == path
        ));
        let absent = folder.path().join("absent");
        assert!(matches!(
            CheckpointFolder::inspect(&absent),
            Err(CheckpointError::NotAFolder { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_may_point_inside_the_folder_but_not_outside() {
        use std::os::unix::fs::symlink;

        let folder = single_file_checkpoint();
        write(&folder, "tokenizers/original.json", b"{}");
        fs::remove_file(folder.path().join(TOKENIZER_FILE)).expect("remove");
        symlink(
            "tokenizers/original.json",
            folder.path().join(TOKENIZER_FILE),
        )
        .expect("link");
        CheckpointFolder::inspect(folder.path()).expect("inner links are fine");

        let outside = tempfile::tempdir().expect("temp dir");
        write(&outside, "secret.json", b"{}");
        let target = outside.path().join("secret.json");
        symlink(&target, folder.path().join("tokenizers/leak.json")).expect("link");
        match inspect_error(&folder) {
            CheckpointError::SymlinkEscape {
                file,
                target: written,
            } => {
                assert_eq!(file, PathBuf::from("tokenizers/leak.json"));
                assert_eq!(written, target);
            }
            other => panic!("expected a symlink escape, got {other:?}"),
        }

        fs::remove_file(folder.path().join("tokenizers/leak.json")).expect("remove");
        symlink("../nowhere", folder.path().join("dangling")).expect("link");
        assert!(matches!(
            inspect_error(&folder),
            CheckpointError::SymlinkEscape { file, .. } if file == Path::new("dangling")
        ));
    }
}
