//! What makes two runs the same run: one typed value per kind of judge, built by every path that
//! opens or submits a run (the CLI, the submissions service, uploads), stored as the run's
//! `configuration.identity` with a SHA-256 digest in an indexed column, so finding the run to
//! resume or join is one indexed lookup.
//!
//! An identity holds what changes the judgements (weights, input formatting, numerics, prompts,
//! request options, the judge's own options) and nothing a session may change (concurrency,
//! prices, batch sizes), which the run records apart as its details.
//!
//! A local checkpoint's identity is decided before the model loads, from the files alone, so the
//! command line and an upload of the same files under the same options name one run: the weights'
//! SHA-256, the SHA-256 of the files that decide how inputs are formatted
//! ([`INPUT_FORMAT_FILES`]: config, tokenizer, chat template, preprocessor), the architecture,
//! the device class with the dtype it implies, the options that shape inputs (token limit,
//! truncation side, separator, reward label, frames per video) and, for vision-language models,
//! the conversation layout per task ([`CONVERSATION_LAYOUT`], or MiniCPM-o's). A checkpoint named by Hub
//! repository is decided before anything is downloaded: its repository and commit stand for
//! the files.

use std::io::Read as _;
use std::path::Path;

use omnireward_local_judge::architecture::{Architecture, ModelKind};
use omnireward_shared::Task;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::baseline::BaselineKind;
use super::generative_run::GenerativeDecoding;
use crate::judges::ablation::Ablation;
use crate::judges::api::prompts::PromptSet;
use crate::judges::api::request::RequestOptions;
use crate::judges::local::TruncationSide;
use crate::judges::local::generative::reads_media;
use crate::judges::local::inputs::ConversationLayout;
use crate::judges::local::vision_prompt::VIDEO_FRAME_RULE;
use omnireward_local_judge::omni_conversation::VIDEO_FRAMES;

/// The files of a checkpoint folder that decide how its inputs are formatted and tokenized.
/// (`chat_template.json`, where Qwen2-VL processors save their template, is last: a folder
/// without it hashes as it always did.)
pub const INPUT_FORMAT_FILES: [&str; 9] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
    "preprocessor_config.json",
    "sentence_bert_config.json",
    "generation_config.json",
    "chat_template.json",
];

/// What makes two runs the same, for every kind of judge.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "judge", rename_all = "snake_case")]
pub enum RunIdentity {
    /// A generative judge behind an OpenAI-compatible API.
    Api(ApiJudgeIdentity),
    /// A content-blind baseline.
    Baseline(BaselineIdentity),
    /// A local checkpoint run with candle.
    Checkpoint(CheckpointIdentity),
    /// A checkpoint from the Hugging Face Hub, named by repository and commit.
    HubCheckpoint(HubCheckpointIdentity),
    /// A judgements file judged elsewhere and submitted (`submitted_predictions` runs).
    Predictions(PredictionsIdentity),
    /// A local chat model (folder or GGUF file) run with candle as a generative judge.
    Generative(GenerativeIdentity),
}

/// A submitted judgements file: its bytes decide its judgements, so their SHA-256 is the run's
/// identity, and sending the same file again joins the same run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PredictionsIdentity {
    /// SHA-256 (hex) of the file's text as received.
    pub file_sha256: String,
}

/// An API judge: the endpoint as recorded, what every request carries, the prompt set and how
/// often an unparseable verdict is asked again.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApiJudgeIdentity {
    /// The endpoint without user info, query or fragment.
    pub endpoint: String,
    /// Model, sampling options, extra body fields, frames and audio layout.
    pub request: Value,
    /// The prompt templates.
    pub prompts: PromptsIdentity,
    /// Queries per item while the verdict cannot be parsed.
    pub verdict_attempts: u32,
}

/// A prompt set as runs record it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PromptsIdentity {
    /// Its name.
    pub name: String,
    /// The hash over every template.
    pub hash: String,
    /// Tasks a loaded set fell back to ours for.
    pub fallback_tasks: Vec<Task>,
}

/// A content-blind baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BaselineIdentity {
    /// Which baseline.
    pub kind: BaselineKind,
    /// Seed of the random baseline.
    pub seed: u64,
}

/// A local checkpoint, decided from its files and options before it loads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointIdentity {
    /// SHA-256 over the weight files in name order.
    pub weights_sha256: String,
    /// SHA-256 over the [`INPUT_FORMAT_FILES`] present (name, length, bytes of each).
    pub inputs_sha256: String,
    #[serde(flatten)]
    pub settings: CheckpointSettings,
}

/// A checkpoint from the Hub, decided before anything is downloaded: the repository and the
/// commit (which names every file's bytes, LFS hashes included) with the same numerics and input
/// options as [`CheckpointIdentity`], so a submission and `eval checkpoint hf:…` of one commit
/// under the same options name one run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HubCheckpointIdentity {
    /// `org/name`.
    pub repository: String,
    /// The commit the revision named when the run was opened.
    pub commit: String,
    #[serde(flatten)]
    pub settings: CheckpointSettings,
}

/// What both checkpoint identities hold besides where the files come from: the numerics and the
/// input options. Flattened into each identity, so the stored JSON (and its digest, over sorted
/// keys) is what it was when the fields were written out in both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointSettings {
    /// The `transformers` architecture.
    pub architecture: String,
    /// `cpu` or `cuda`: which device kind computes (results differ between them only by the
    /// dtype and kernels, and the dtype is decided by the device kind).
    pub device_class: DeviceClass,
    /// The dtype the device class implies for this architecture.
    pub dtype: &'static str,
    /// Token limit asked for (`None`: the checkpoint's own).
    pub max_length: Option<usize>,
    /// Which end of a too-long input is cut.
    pub truncation: TruncationSide,
    /// Separator between criterion, prompt and response asked for (`None`: the tokenizer's).
    pub separator: Option<String>,
    /// Which head output is the reward (`None`: the only one).
    pub reward_label: Option<String>,
    /// Frames sampled per video, for models that read images (image-text and vision-language).
    pub frames: Option<usize>,
    /// How a vision-language model's conversations are laid out per task
    /// ([`CONVERSATION_LAYOUT`]); left out for other models, so their identities are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_layout: Option<&'static str>,
    /// Parts of the input taken away (an ablation audit); left out when empty, so runs on full
    /// inputs keep the identity they had before ablations existed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ablations: Vec<Ablation>,
}

impl CheckpointSettings {
    /// The settings of `architecture` on `device_class` under `options`: the dtype the device
    /// class implies, and frames only for models that read images.
    fn new(
        architecture: &str,
        device_class: DeviceClass,
        options: CheckpointInputOptions,
    ) -> CheckpointSettings {
        let (dtype, kind) = numerics(architecture, device_class);
        let reads_images = matches!(
            kind,
            Some(
                ModelKind::ImageText
                    | ModelKind::MultimodalConversation
                    | ModelKind::OmniConversation
            )
        );
        // MiniCPM-o reads at most four frames of a video (as its authors trained it).
        let frames = match kind {
            Some(ModelKind::OmniConversation) => options.frames.min(VIDEO_FRAMES),
            _ => options.frames,
        };
        CheckpointSettings {
            architecture: architecture.to_owned(),
            device_class,
            dtype,
            max_length: options.max_length,
            truncation: options.truncation,
            separator: options.separator,
            reward_label: options.reward_label,
            frames: reads_images.then_some(frames),
            conversation_layout: kind
                .and_then(ConversationLayout::of)
                .map(ConversationLayout::name),
            ablations: options.ablations,
        }
    }
}

impl HubCheckpointIdentity {
    /// The identity of `repository` at `commit`, of `architecture`, on `device_class`, under
    /// `options`.
    pub fn new(
        repository: String,
        commit: String,
        architecture: &str,
        device_class: DeviceClass,
        options: CheckpointInputOptions,
    ) -> HubCheckpointIdentity {
        HubCheckpointIdentity {
            repository,
            commit,
            settings: CheckpointSettings::new(architecture, device_class, options),
        }
    }
}

/// The dtype `device_class` implies for `architecture`, and how the model scores (if known).
fn numerics(architecture: &str, device_class: DeviceClass) -> (&'static str, Option<ModelKind>) {
    let known = Architecture::from_hugging_face_name(architecture);
    let dtype = match (device_class, known) {
        (DeviceClass::Cuda, Some(known)) if known.half_precision_safe() => "bf16",
        _ => "f32",
    };
    (dtype, known.map(Architecture::kind))
}

/// A local generative judge: its weights and tokenizer/template files, numerics, prompts,
/// decoding options and, for a vision-language model, its media rule. Decided from the files and
/// options before the model loads. (A vision-language folder judging is told apart from the same
/// weights with a reward head by the `judge` tag: `generative`, not `checkpoint`.)
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenerativeIdentity {
    /// SHA-256 over the weight files in name order (a GGUF file: the whole file, whose metadata
    /// holds the tokenizer and chat template).
    pub weights_sha256: String,
    /// SHA-256 over the [`INPUT_FORMAT_FILES`] of a folder; `None` for a GGUF file.
    pub inputs_sha256: Option<String>,
    /// `safetensors` or `gguf`.
    pub format: &'static str,
    /// `Qwen2ForCausalLM`, … for a folder; `general.architecture` for a GGUF file.
    pub architecture: String,
    /// Which device kind computes.
    pub device_class: DeviceClass,
    /// The activations' dtype the device class implies (bf16 on CUDA for folders, else f32).
    pub dtype: &'static str,
    /// The prompt templates.
    pub prompts: PromptsIdentity,
    /// Queries per item while the verdict cannot be parsed.
    pub verdict_attempts: u32,
    /// Token limit, re-query sampling and seed.
    pub decoding: GenerativeDecoding,
    /// How a vision-language judge's media are decoded and its videos sampled
    /// ([`VIDEO_FRAME_RULE`]); left out for text chat models, so their identities are unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_rule: Option<&'static str>,
}

impl GenerativeIdentity {
    /// The identity of the chat model at `path` (a folder whose weights hash to
    /// `weights_sha256`, or a GGUF file hashed whole). Reads the small input-format files of a
    /// folder: blocking.
    pub fn new(
        weights_sha256: String,
        path: &Path,
        architecture: &str,
        device_class: DeviceClass,
        prompts: &PromptSet,
        verdict_attempts: u32,
        decoding: GenerativeDecoding,
    ) -> std::io::Result<GenerativeIdentity> {
        let gguf = path.is_file();
        Ok(GenerativeIdentity {
            weights_sha256,
            inputs_sha256: if gguf {
                None
            } else {
                Some(inputs_sha256(path)?)
            },
            format: if gguf { "gguf" } else { "safetensors" },
            architecture: architecture.to_owned(),
            device_class,
            dtype: match (gguf, device_class) {
                (false, DeviceClass::Cuda) => "bf16",
                _ => "f32",
            },
            prompts: PromptsIdentity {
                name: prompts.name.clone(),
                hash: prompts.hash.clone(),
                fallback_tasks: prompts.fallback_tasks.clone(),
            },
            verdict_attempts,
            decoding,
            media_rule: reads_media(architecture).then_some(VIDEO_FRAME_RULE),
        })
    }
}

/// The kind of device a checkpoint runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    /// The CPU, in f32.
    Cpu,
    /// A CUDA GPU, in bf16 where the family is safe in half precision.
    Cuda,
}

impl DeviceClass {
    /// The class of a device named `cpu`, `cuda` or `cuda:N` (as runs record devices).
    pub fn of_device(device: &str) -> DeviceClass {
        if device.starts_with("cuda") {
            DeviceClass::Cuda
        } else {
            DeviceClass::Cpu
        }
    }
}

/// The options of a checkpoint run that shape its inputs.
#[derive(Clone, Debug, Default)]
pub struct CheckpointInputOptions {
    /// Token limit asked for.
    pub max_length: Option<usize>,
    /// Which end of a too-long input is cut.
    pub truncation: TruncationSide,
    /// Separator asked for.
    pub separator: Option<String>,
    /// Which head output is the reward.
    pub reward_label: Option<String>,
    /// Frames sampled per video response (kept only for image-text models).
    pub frames: usize,
    /// Parts of the input taken away (an ablation audit), normalised.
    pub ablations: Vec<Ablation>,
}

impl ApiJudgeIdentity {
    /// The identity of an API judge with these request options and prompts.
    pub fn new(
        endpoint: String,
        request: &RequestOptions,
        prompts: &PromptSet,
        verdict_attempts: u32,
    ) -> ApiJudgeIdentity {
        ApiJudgeIdentity {
            endpoint,
            // `RequestOptions` serialises to an object whatever its fields hold.
            request: serde_json::to_value(request).unwrap_or(Value::Null),
            prompts: PromptsIdentity {
                name: prompts.name.clone(),
                hash: prompts.hash.clone(),
                fallback_tasks: prompts.fallback_tasks.clone(),
            },
            verdict_attempts,
        }
    }
}

impl CheckpointIdentity {
    /// The identity of the checkpoint in `folder` whose weights hash to `weights_sha256`
    /// ([`super::checkpoint_run::weights_sha256`]), of `architecture`, on `device_class`, under
    /// `options`. Reads the small input-format files: blocking.
    pub fn new(
        weights_sha256: String,
        folder: &Path,
        architecture: &str,
        device_class: DeviceClass,
        options: CheckpointInputOptions,
    ) -> std::io::Result<CheckpointIdentity> {
        Ok(CheckpointIdentity {
            weights_sha256,
            inputs_sha256: inputs_sha256(folder)?,
            settings: CheckpointSettings::new(architecture, device_class, options),
        })
    }
}

impl RunIdentity {
    /// The identity as stored in the run's configuration.
    pub fn to_value(&self) -> Value {
        // Every field serialises (strings, numbers, enums without data): this cannot fail.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// SHA-256 over the [`INPUT_FORMAT_FILES`] present in `folder`, each as `name \n length \n
/// bytes`, in the list's order. Blocking.
pub fn inputs_sha256(folder: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    for name in INPUT_FORMAT_FILES {
        let path = folder.join(name);
        let mut file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(std::io::Error::new(
                    error.kind(),
                    format!("{}: {error}", path.display()),
                ));
            }
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|error| {
            std::io::Error::new(error.kind(), format!("{}: {error}", path.display()))
        })?;
        hasher.update(format!("{name}\n{}\n", bytes.len()).as_bytes());
        hasher.update(&bytes);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::storage::identity_digest;

    #[test]
    fn digests_ignore_key_order_and_see_every_value() {
        let first = json!({"judge": "api", "request": {"model": "m", "temperature": 0.5}});
        let reordered = json!({"request": {"temperature": 0.5, "model": "m"}, "judge": "api"});
        assert_eq!(identity_digest(&first), identity_digest(&reordered));
        let other = json!({"judge": "api", "request": {"model": "m", "temperature": 0.25}});
        assert_ne!(identity_digest(&first), identity_digest(&other));
        assert_eq!(identity_digest(&first).len(), 64);
    }

    #[test]
    fn identities_serialise_tagged_by_judge() {
        let baseline = RunIdentity::Baseline(BaselineIdentity {
            kind: BaselineKind::Random,
            seed: 3,
        });
        assert_eq!(
            baseline.to_value(),
            json!({"judge": "baseline", "kind": "random", "seed": 3})
        );
    }

    #[test]
    fn checkpoint_identities_come_from_the_files_and_options() {
        let folder = tempfile::TempDir::new().expect("folder");
        std::fs::write(folder.path().join("model.safetensors"), b"weights").expect("writes");
        std::fs::write(folder.path().join("tokenizer.json"), b"{}").expect("writes");
        std::fs::write(folder.path().join("README.md"), b"not an input").expect("writes");
        let weights = super::super::checkpoint_run::weights_sha256(&[folder
            .path()
            .join("model.safetensors")])
        .expect("hashes");
        let identity = |device, options| {
            CheckpointIdentity::new(
                weights.clone(),
                folder.path(),
                "Qwen2ForSequenceClassification",
                device,
                options,
            )
            .expect("hashes")
        };
        let cpu = identity(DeviceClass::Cpu, CheckpointInputOptions::default());
        assert_eq!(cpu.settings.dtype, "f32");
        assert_eq!(cpu.settings.frames, None, "a text model has no frame count");
        let cuda = identity(DeviceClass::Cuda, CheckpointInputOptions::default());
        assert_eq!(cuda.settings.dtype, "bf16");
        // Files that do not shape inputs leave the identity alone; those that do change it.
        std::fs::write(folder.path().join("README.md"), b"edited").expect("writes");
        assert_eq!(
            identity(DeviceClass::Cpu, CheckpointInputOptions::default()),
            cpu
        );
        std::fs::write(folder.path().join("tokenizer.json"), b"{\"x\":1}").expect("writes");
        assert_ne!(
            identity(DeviceClass::Cpu, CheckpointInputOptions::default()).inputs_sha256,
            cpu.inputs_sha256
        );
        assert_eq!(DeviceClass::of_device("cuda:1"), DeviceClass::Cuda);
        let hub = |commit: &str| {
            RunIdentity::HubCheckpoint(HubCheckpointIdentity::new(
                "org/name".to_owned(),
                commit.to_owned(),
                "Qwen2ForSequenceClassification",
                DeviceClass::Cuda,
                CheckpointInputOptions::default(),
            ))
        };
        let value = hub(&"a".repeat(40)).to_value();
        assert_eq!(value["judge"], "hub_checkpoint");
        assert_eq!(value["commit"], "a".repeat(40));
        assert_eq!(value["dtype"], "bf16");
        assert_ne!(
            identity_digest(&value),
            identity_digest(&hub(&"b".repeat(40)).to_value()),
            "another commit is another run"
        );
        assert_eq!(DeviceClass::of_device("cpu"), DeviceClass::Cpu);
        assert!(
            value.get("conversation_layout").is_none(),
            "a text model's identity names no conversation layout"
        );
    }

    #[test]
    fn generative_identities_name_a_media_rule_for_vision_language_models_only() {
        let folder = tempfile::TempDir::new().expect("folder");
        std::fs::write(folder.path().join("config.json"), b"{}").expect("writes");
        let identity = |architecture: &str| {
            RunIdentity::Generative(
                GenerativeIdentity::new(
                    "w".repeat(64),
                    folder.path(),
                    architecture,
                    DeviceClass::Cpu,
                    &PromptSet::builtin(),
                    5,
                    GenerativeDecoding::default(),
                )
                .expect("hashes"),
            )
            .to_value()
        };
        let text = identity("Qwen2ForCausalLM");
        assert!(
            text.get("media_rule").is_none(),
            "a text chat model's identity is unchanged"
        );
        let vision = identity("Qwen2_5_VLForConditionalGeneration");
        assert_eq!(vision["judge"], "generative");
        assert_eq!(vision["media_rule"], VIDEO_FRAME_RULE);
        assert_ne!(identity_digest(&text), identity_digest(&vision));
    }

    #[test]
    fn vision_language_identities_name_their_conversation_layout() {
        let identity = RunIdentity::HubCheckpoint(HubCheckpointIdentity::new(
            "org/vl".to_owned(),
            "c".repeat(40),
            "Qwen2_5_VLForConditionalGeneration",
            DeviceClass::Cuda,
            CheckpointInputOptions::default(),
        ));
        let value = identity.to_value();
        assert_eq!(
            value["conversation_layout"],
            crate::judges::local::inputs::CONVERSATION_LAYOUT
        );
        assert_eq!(value["dtype"], "bf16", "bf16 on CUDA, never f16");
        assert_eq!(
            value["frames"],
            CheckpointInputOptions::default().frames,
            "videos are read as frames"
        );
    }

    #[test]
    fn minicpm_o_identities_name_its_layout_and_read_at_most_four_frames() {
        let options = CheckpointInputOptions {
            frames: 8,
            ..CheckpointInputOptions::default()
        };
        let identity = RunIdentity::HubCheckpoint(HubCheckpointIdentity::new(
            "jinzhuoran/OmniRewardModel".to_owned(),
            "d".repeat(40),
            "MiniCPMO",
            DeviceClass::Cuda,
            options,
        ));
        let value = identity.to_value();
        assert_eq!(
            value["conversation_layout"],
            crate::judges::local::inputs::OMNI_CONVERSATION_LAYOUT
        );
        assert_eq!(value["frames"], 4);
        assert_eq!(value["dtype"], "bf16");
    }
}
