//! A reward model of one of the local judge's families (text reward models, and the image-text
//! models CLIP and SigLIP), built over trainable variables.
//!
//! The model files of `omnireward-local-judge` build themselves from a `VarBuilder`; here that
//! builder is backed by [`WeightStore`], which hands out pretrained tensors (or seeded initial
//! values for weights the checkpoint lacks, such as a new reward head) and makes the trainable
//! ones `Var`s of a `VarMap`. No model code is duplicated: what is trained is exactly what
//! `eval checkpoint` later loads and scores.
//!
//! Frozen weights are plain tensors, so the backward pass stops at the trainable part (head-only
//! training costs one forward pass of the backbone). A `BertModel` sentence encoder (the default
//! all-MiniLM-L6-v2) becomes a `BertForSequenceClassification` with one output: its weights move
//! under `bert.` and the pooler and classifier are the head. An image-text model keeps its
//! layout: its reward is the judge's `logit_scale.exp() * cosine(text, image) + bias`, and its
//! head is the projections into the shared space and `logit_scale` ([`head_prefixes`]).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use omnireward_local_judge::architecture::{Architecture, ModelKind};
use omnireward_local_judge::checkpoint::{
    CHAT_TEMPLATE_FILE, CONFIG_FILE, CheckpointFolder, SINGLE_WEIGHTS_FILE, TOKENIZER_CONFIG_FILE,
    TOKENIZER_FILE,
};
use omnireward_local_judge::device::{DeviceChoice, dtype_for};
use omnireward_local_judge::image_input::{ImagePreprocessor, PREPROCESSOR_CONFIG_FILE};
use omnireward_local_judge::input::{TextEncoder, TokenizerConfig, TruncationSide};
use omnireward_local_judge::judge::{LocalJudgeOptions, text_encoder};
use omnireward_local_judge::models::kernels::Kernels;
use omnireward_local_judge::models::{
    ImageTextModel, ModelSource, RewardLabel, SequenceRewardModel,
    head_needs_differentiable_kernels, head_prefixes, load_image_text_model, load_sequence_model,
    untrained_weights,
};
use omnireward_shared::random::SplitMix64;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::TrainingError;

/// Which weights the optimizer updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trainable {
    /// The reward head only (pooler and classifier, or a decoder's `score`); the backbone is
    /// frozen.
    Head,
    /// Every weight.
    All,
}

impl std::str::FromStr for Trainable {
    type Err = String;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        match given {
            "head" => Ok(Trainable::Head),
            "all" => Ok(Trainable::All),
            other => Err(format!("{other:?}: expected head or all")),
        }
    }
}

/// Where the starting weights come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Initialisation {
    /// The checkpoint's safetensors weights; missing weights (a new head) are initialised.
    Pretrained,
    /// Every weight initialised from the seed; the folder needs only `config.json` and the
    /// tokenizer files (tests, experiments).
    Scratch,
}

/// What to build.
#[derive(Clone, Debug)]
pub struct ModelSpec {
    /// The checkpoint (or scratch) folder.
    pub folder: PathBuf,
    /// Pretrained or from scratch.
    pub initialisation: Initialisation,
    /// What is trained.
    pub trainable: Trainable,
    /// Where to run.
    pub device: DeviceChoice,
    /// Token limit per input (`None`: the checkpoint's, as for scoring).
    pub max_length: Option<usize>,
    /// Which end of a long input is cut.
    pub truncation: TruncationSide,
    /// Separator of encoder inputs (`None`: the tokenizer's).
    pub separator: Option<String>,
    /// Seed of initial values.
    pub seed: u64,
    /// Compute dtype override (tests use f64 for finite differences); `None` picks f32 on the
    /// CPU and bf16 on CUDA where the family is safe in it.
    pub dtype: Option<DType>,
}

/// Where a weight's starting value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WeightOrigin {
    /// Read from the checkpoint.
    Pretrained,
    /// Initialised from the seed (absent from the checkpoint, or a head of another shape).
    Initialised,
}

struct StoreState {
    pretrained: HashMap<String, Tensor>,
    head_prefixes: Vec<String>,
    untrained: Vec<String>,
    trainable: Trainable,
    seed: u64,
    variables: VarMap,
    frozen: Mutex<BTreeMap<String, Tensor>>,
    origins: Mutex<BTreeMap<String, WeightOrigin>>,
}

/// The `VarBuilder` backend of training: pretrained or seeded values, trainable ones as `Var`s.
#[derive(Clone)]
pub struct WeightStore {
    state: Arc<StoreState>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock means a panic elsewhere already failed the run; the data is still whole.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl WeightStore {
    /// Whether `name` belongs to the reward head (pooler and classifier, or `score`).
    fn is_head(&self, name: &str) -> bool {
        self.state
            .head_prefixes
            .iter()
            .any(|prefix| name.starts_with(prefix.as_str()))
    }

    fn is_trainable(&self, name: &str) -> bool {
        (self.state.trainable == Trainable::All || self.is_head(name))
            && !self
                .state
                .untrained
                .iter()
                .any(|untrained| untrained == name)
    }

    /// The trainable variables by name, sorted by name (a stable order for the optimizer and
    /// its checkpoints).
    pub fn trainable_variables(&self) -> Vec<(String, Var)> {
        let data = lock(self.state.variables.data());
        let mut variables: Vec<(String, Var)> = data
            .iter()
            .map(|(name, variable)| (name.clone(), variable.clone()))
            .collect();
        variables.sort_by(|first, second| first.0.cmp(&second.0));
        variables
    }

    /// Every weight the model uses, trainable and frozen, by name.
    pub fn all_tensors(&self) -> HashMap<String, Tensor> {
        let mut tensors: HashMap<String, Tensor> = lock(&self.state.frozen)
            .iter()
            .map(|(name, tensor)| (name.clone(), tensor.clone()))
            .collect();
        for (name, variable) in self.trainable_variables() {
            tensors.insert(name, variable.as_detached_tensor());
        }
        tensors
    }

    /// Where each weight's starting value came from.
    pub fn origins(&self) -> BTreeMap<String, WeightOrigin> {
        lock(&self.state.origins).clone()
    }

    /// A seeded initial value: the same for the same seed and weight name, whatever order the
    /// model asks for its weights in.
    fn initial_value(
        &self,
        shape: &Shape,
        name: &str,
        init: Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let count = shape.elem_count();
        let mut random = SplitMix64::new(self.state.seed ^ name_hash(name));
        let mut uniform = || (random.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let values: Vec<f64> = match init {
            Init::Const(value) => vec![value; count],
            Init::Uniform { lo, up } => (0..count).map(|_| lo + (up - lo) * uniform()).collect(),
            Init::Randn { mean, stdev } => (0..count)
                .map(|_| mean + stdev * normal(&mut uniform))
                .collect(),
            Init::Kaiming {
                dist,
                fan,
                non_linearity,
            } => {
                let std = non_linearity.gain() / (fan.for_shape(shape) as f64).sqrt();
                match dist {
                    candle_nn::init::NormalOrUniform::Uniform => {
                        let bound = 3f64.sqrt() * std;
                        (0..count)
                            .map(|_| -bound + 2.0 * bound * uniform())
                            .collect()
                    }
                    candle_nn::init::NormalOrUniform::Normal => {
                        (0..count).map(|_| std * normal(&mut uniform)).collect()
                    }
                }
            }
        };
        Tensor::from_vec(values, shape.clone(), device)?.to_dtype(dtype)
    }
}

/// A standard normal draw (Box-Muller) from a uniform source in [0, 1).
fn normal(uniform: &mut impl FnMut() -> f64) -> f64 {
    let first = 1.0 - uniform();
    let second = uniform();
    (-2.0 * first.ln()).sqrt() * (2.0 * std::f64::consts::PI * second).cos()
}

/// FNV-1a of a weight name, to give every weight its own random stream.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl SimpleBackend for WeightStore {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        if let Some(variable) = lock(self.state.variables.data()).get(name) {
            if variable.shape() != &shape {
                candle_core::bail!(
                    "{name} is requested with shapes {shape:?} and {:?}",
                    variable.shape()
                );
            }
            return Ok(variable.as_tensor().clone());
        }
        if let Some(tensor) = lock(&self.state.frozen).get(name) {
            return Ok(tensor.clone());
        }
        let trainable = self.is_trainable(name);
        let (value, origin) = match self.state.pretrained.get(name) {
            Some(tensor) if tensor.shape() == &shape => (
                tensor.to_device(device)?.to_dtype(dtype)?,
                WeightOrigin::Pretrained,
            ),
            // A head of another size (a classifier with other labels) starts afresh, whatever
            // else is trained.
            Some(_) if trainable && self.is_head(name) => (
                self.initial_value(&shape, name, init, dtype, device)?,
                WeightOrigin::Initialised,
            ),
            Some(tensor) => candle_core::bail!(
                "{name} has shape {:?} in the checkpoint; the configuration needs {shape:?}",
                tensor.dims()
            ),
            None => (
                self.initial_value(&shape, name, init, dtype, device)?,
                WeightOrigin::Initialised,
            ),
        };
        lock(&self.state.origins).insert(name.to_owned(), origin);
        if trainable {
            let variable = Var::from_tensor(&value)?;
            let tensor = variable.as_tensor().clone();
            lock(self.state.variables.data()).insert(name.to_owned(), variable);
            Ok(tensor)
        } else {
            lock(&self.state.frozen).insert(name.to_owned(), value.clone());
            Ok(value)
        }
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        match self.state.pretrained.get(name) {
            Some(tensor) => tensor.to_device(device)?.to_dtype(dtype),
            None => candle_core::bail!("{name} is not in the checkpoint"),
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.state.pretrained.contains_key(name)
            || lock(self.state.variables.data()).contains_key(name)
    }
}

/// The network that computes rewards.
pub enum RewardNetwork {
    /// A text model with a scalar head: one reward per formatted criterion, prompt and answer.
    Sequence(Box<dyn SequenceRewardModel>),
    /// An image-text model: the reward of an image answer for the criterion and prompt.
    ImageText {
        /// CLIP or SigLIP.
        model: Box<dyn ImageTextModel>,
        /// The checkpoint's image preprocessing, as the judge applies it.
        preprocessor: ImagePreprocessor,
    },
}

/// A built model with its input encoder, ready to train and to save.
pub struct TrainableModel {
    /// The reward model.
    pub model: RewardNetwork,
    /// Formatting and tokenization, exactly as `eval checkpoint` will do it.
    pub encoder: TextEncoder,
    /// The weights.
    pub weights: WeightStore,
    /// The family that is trained and written (`Bert` for a `BertModel` backbone).
    pub architecture: Architecture,
    /// The `config.json` written with checkpoints.
    pub config: Value,
    /// The source folder (tokenizer files are copied from it).
    pub folder: PathBuf,
    /// The device.
    pub device: Device,
    /// The compute dtype.
    pub dtype: DType,
    /// What is trained.
    pub trainable: Trainable,
    /// Pretrained or from scratch.
    pub initialisation: Initialisation,
    /// The source checkpoint's `architectures` entry.
    pub source_architecture: Architecture,
}

impl TrainableModel {
    /// Builds the model of `spec`.
    pub fn build(spec: &ModelSpec) -> Result<TrainableModel, TrainingError> {
        let config_path = spec.folder.join(CONFIG_FILE);
        let config_text =
            fs::read_to_string(&config_path).map_err(TrainingError::io(&config_path))?;
        let mut config: Value =
            serde_json::from_str(&config_text).map_err(|error| TrainingError::Data {
                file: config_path.clone(),
                location: format!("line {}", error.line()),
                field: "(file)".to_owned(),
                message: error.to_string(),
            })?;
        let name = config
            .get("architectures")
            .and_then(Value::as_array)
            .and_then(|names| names.first())
            .and_then(Value::as_str)
            .ok_or_else(|| TrainingError::Data {
                file: config_path.clone(),
                location: "config".to_owned(),
                field: "architectures".to_owned(),
                message: "missing: name the model family, e.g. [\"BertForSequenceClassification\"]"
                    .to_owned(),
            })?
            .to_owned();
        let source_architecture =
            Architecture::from_hugging_face_name(&name).ok_or_else(|| TrainingError::Config {
                message: format!(
                    "{}: {name} is not a supported family",
                    config_path.display()
                ),
            })?;
        let architecture = match source_architecture.kind() {
            ModelKind::EncoderClassifier | ModelKind::DecoderClassifier | ModelKind::ImageText => {
                source_architecture
            }
            ModelKind::TextEmbedding => Architecture::Bert,
            ModelKind::MultimodalConversation | ModelKind::OmniConversation => {
                return Err(TrainingError::Config {
                    message: format!(
                        "{}: {name} (a vision-language reward model) cannot be trained here yet",
                        config_path.display()
                    ),
                });
            }
        };
        let reads_images = architecture.kind() == ModelKind::ImageText;
        // One scalar reward: the head has one output, whatever the source checkpoint had. An
        // image-text model's reward is its similarity: its config stays as it is.
        if let Value::Object(fields) = &mut config
            && !reads_images
        {
            fields.insert(
                "architectures".to_owned(),
                Value::from(vec![architecture.hugging_face_name()]),
            );
            fields.insert("num_labels".to_owned(), Value::from(1));
            fields.remove("id2label");
            fields.remove("label2id");
        }

        let (pretrained, chat_template) = match spec.initialisation {
            Initialisation::Pretrained => {
                let checkpoint = CheckpointFolder::inspect(&spec.folder)
                    .map_err(omnireward_local_judge::LocalJudgeError::from)?;
                let mut tensors = HashMap::new();
                for file in checkpoint.weight_files() {
                    let loaded = candle_core::safetensors::load(&file, &Device::Cpu)
                        .map_err(TrainingError::tensor(format!("reading {}", file.display())))?;
                    tensors.extend(loaded);
                }
                if source_architecture.kind() == ModelKind::TextEmbedding
                    && !tensors.contains_key("bert.embeddings.word_embeddings.weight")
                {
                    tensors = tensors
                        .into_iter()
                        .map(|(name, tensor)| (format!("bert.{name}"), tensor))
                        .collect();
                }
                (tensors, checkpoint.chat_template.clone())
            }
            Initialisation::Scratch => (HashMap::new(), scratch_chat_template(&spec.folder)?),
        };

        let device = spec.device.open()?;
        let dtype = spec
            .dtype
            .unwrap_or_else(|| dtype_for(&device, architecture.half_precision_safe()));
        let store = WeightStore {
            state: Arc::new(StoreState {
                pretrained,
                head_prefixes: head_prefixes(architecture)
                    .iter()
                    .map(|prefix| (*prefix).to_owned())
                    .collect(),
                untrained: untrained_weights(architecture)
                    .iter()
                    .map(|name| (*name).to_owned())
                    .collect(),
                trainable: spec.trainable,
                seed: spec.seed,
                variables: VarMap::new(),
                frozen: Mutex::new(BTreeMap::new()),
                origins: Mutex::new(BTreeMap::new()),
            }),
        };
        let builder = VarBuilder::from_backend(Box::new(store.clone()), dtype, device.clone());
        let reward_label = RewardLabel::Single;
        let config_file = PathBuf::from(CONFIG_FILE);
        let source = ModelSource {
            config_file: &config_file,
            config: &config,
            weights: builder,
            reward_label: &reward_label,
            // Head-only training keeps the fused kernels where no gradient flows through them
            // (below the head); SigLIP's head has a layer norm and a softmax of its own.
            kernels: match spec.trainable {
                Trainable::Head if !head_needs_differentiable_kernels(architecture) => {
                    Kernels::Fused
                }
                Trainable::Head | Trainable::All => Kernels::Differentiable,
            },
        };
        let (model, max_positions) = if reads_images {
            let model = load_image_text_model(architecture, source)?;
            let positions = Some(model.max_text_positions());
            let preprocessor = ImagePreprocessor::from_folder(&spec.folder, architecture)?;
            (
                RewardNetwork::ImageText {
                    model,
                    preprocessor,
                },
                positions,
            )
        } else {
            let model = load_sequence_model(architecture, source)?;
            let positions = model.max_positions();
            (RewardNetwork::Sequence(model), positions)
        };
        if store.trainable_variables().is_empty() {
            return Err(TrainingError::Config {
                message: format!(
                    "{name} has no trainable weights under --train {:?}",
                    spec.trainable
                ),
            });
        }
        let options = LocalJudgeOptions {
            device: spec.device,
            max_length: spec.max_length,
            truncation: spec.truncation,
            separator: spec.separator.clone(),
            ..LocalJudgeOptions::default()
        };
        let encoder = text_encoder(
            &spec.folder,
            chat_template.as_deref(),
            architecture,
            &config,
            max_positions,
            &options,
        )?;
        Ok(TrainableModel {
            model,
            encoder,
            weights: store,
            architecture,
            config,
            folder: spec.folder.clone(),
            device,
            dtype,
            trainable: spec.trainable,
            initialisation: spec.initialisation,
            source_architecture,
        })
    }

    /// Whether the model compares images with text (CLIP, SigLIP) rather than reading answers.
    pub fn reads_images(&self) -> bool {
        matches!(self.model, RewardNetwork::ImageText { .. })
    }

    /// Writes the model as a Hugging Face folder that `eval checkpoint` loads: `model.safetensors`,
    /// `config.json`, the source's tokenizer files (with `model_max_length` set to the training
    /// limit so that scoring cuts inputs where training did) and, for image-text models, its
    /// `preprocessor_config.json`.
    pub fn save(&self, folder: &Path) -> Result<(), TrainingError> {
        fs::create_dir_all(folder).map_err(TrainingError::io(folder))?;
        let weights_file = folder.join(SINGLE_WEIGHTS_FILE);
        candle_core::safetensors::save(&self.weights.all_tensors(), &weights_file).map_err(
            TrainingError::tensor(format!("writing {}", weights_file.display())),
        )?;
        let mut config = self.config.clone();
        if let Value::Object(fields) = &mut config {
            fields.insert(
                "torch_dtype".to_owned(),
                Value::from(torch_dtype_name(self.dtype)),
            );
        }
        write_json(&folder.join(CONFIG_FILE), &config)?;
        for name in [
            TOKENIZER_FILE,
            "special_tokens_map.json",
            "vocab.txt",
            // CLIP's BPE files and SigLIP's SentencePiece model, for `transformers` users: the
            // judge itself reads tokenizer.json.
            "vocab.json",
            "merges.txt",
            "spiece.model",
            CHAT_TEMPLATE_FILE,
            PREPROCESSOR_CONFIG_FILE,
        ] {
            let source = self.folder.join(name);
            if source.is_file() {
                fs::copy(&source, folder.join(name)).map_err(TrainingError::io(&source))?;
            }
        }
        let tokenizer_config_path = self.folder.join(TOKENIZER_CONFIG_FILE);
        let mut tokenizer_config = if tokenizer_config_path.is_file() {
            let text = fs::read_to_string(&tokenizer_config_path)
                .map_err(TrainingError::io(&tokenizer_config_path))?;
            serde_json::from_str(&text).unwrap_or_else(|_| Value::Object(serde_json::Map::new()))
        } else {
            Value::Object(serde_json::Map::new())
        };
        if let Value::Object(fields) = &mut tokenizer_config {
            fields.insert(
                "model_max_length".to_owned(),
                Value::from(self.encoder.max_length()),
            );
        }
        write_json(&folder.join(TOKENIZER_CONFIG_FILE), &tokenizer_config)
    }

    /// Replaces the trainable weights with saved values (resuming).
    pub fn load_trainable(&self, tensors: &HashMap<String, Tensor>) -> Result<(), String> {
        for (name, variable) in self.weights.trainable_variables() {
            let saved = tensors
                .get(&name)
                .ok_or_else(|| format!("the checkpoint has no weight {name}"))?;
            let value = saved
                .to_dtype(variable.dtype())
                .and_then(|tensor| tensor.to_device(variable.device()))
                .map_err(|error| format!("{name}: {error}"))?;
            variable
                .set(&value)
                .map_err(|error| format!("{name}: {error}"))?;
        }
        Ok(())
    }
}

/// The chat template of a folder without weights (scratch decoders).
fn scratch_chat_template(folder: &Path) -> Result<Option<String>, TrainingError> {
    let jinja = folder.join(CHAT_TEMPLATE_FILE);
    if jinja.is_file() {
        return fs::read_to_string(&jinja)
            .map(Some)
            .map_err(TrainingError::io(&jinja));
    }
    let file = folder.join(TOKENIZER_CONFIG_FILE);
    if !file.is_file() {
        return Ok(None);
    }
    let text = fs::read_to_string(&file).map_err(TrainingError::io(&file))?;
    let json: Value = serde_json::from_str(&text).map_err(|error| TrainingError::Data {
        file: file.clone(),
        location: format!("line {}", error.line()),
        field: "(file)".to_owned(),
        message: error.to_string(),
    })?;
    Ok(TokenizerConfig::from_json(&file, &json).chat_template)
}

fn torch_dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::BF16 => "bfloat16",
        DType::F16 => "float16",
        DType::F64 => "float64",
        _ => "float32",
    }
}

/// Writes pretty JSON.
pub(crate) fn write_json(file: &Path, value: &impl Serialize) -> Result<(), TrainingError> {
    let text = serde_json::to_string_pretty(value).map_err(|error| TrainingError::Config {
        message: format!("encoding {}: {error}", file.display()),
    })?;
    fs::write(file, text + "\n").map_err(TrainingError::io(file))
}
