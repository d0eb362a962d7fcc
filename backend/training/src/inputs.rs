//! What a model reads of a preference pair, and the rewards it gives both answers.
//!
//! A text model reads criterion, prompt and each answer formatted together ([`EncodedPair::Texts`],
//! tokenized once). An image-text model (CLIP, SigLIP) compares the criterion and prompt, one
//! text formatted as the judge formats it (`request_text`), with each answer's image
//! ([`EncodedPair::Images`]). Images are decoded and preprocessed (the checkpoint's
//! `preprocessor_config.json`, through the judge's own [`ImagePreprocessor`]) when their batch
//! runs, not held in memory: a data set of generated images would not fit as pixels. Decoding is
//! deterministic, so resumed runs stay bit-identical.
//!
//! An image-text answer is exactly one image. The judge also averages several images or a
//! video's sampled frames, but it samples frames through ffmpeg, which training does not run, so
//! video answers are left out of image-text training (`data::image_pairs` counts them).

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use image::{DynamicImage, ImageReader};
use omnireward_local_judge::batch::PaddedBatch;
use omnireward_local_judge::image_input::ImagePreprocessor;
use omnireward_local_judge::input::{EncodedText, ScoringText};
use omnireward_local_judge::judge::request_text;
use omnireward_local_judge::models::{ImageTextModel, image_text_rewards};

use crate::data::{MediaItem, MediaKind, PreferencePair};
use crate::error::TrainingError;
use crate::model::{RewardNetwork, TrainableModel};

/// A pair as the model reads it.
#[derive(Clone, Debug)]
pub enum EncodedPair {
    /// A text model's inputs.
    Texts {
        /// The chosen answer's input (criterion, prompt and answer).
        chosen: EncodedText,
        /// The rejected answer's input.
        rejected: EncodedText,
    },
    /// An image-text model's inputs.
    Images {
        /// Criterion and prompt, tokenized as the judge does.
        text: EncodedText,
        /// The chosen answer's image file.
        chosen: PathBuf,
        /// The rejected answer's image file.
        rejected: PathBuf,
        /// Where the pair came from, for errors.
        origin: String,
    },
}

impl EncodedPair {
    /// Both inputs of a text pair (`None` for an image pair).
    pub fn texts(&self) -> Option<(&EncodedText, &EncodedText)> {
        match self {
            EncodedPair::Texts { chosen, rejected } => Some((chosen, rejected)),
            EncodedPair::Images { .. } => None,
        }
    }
}

/// Formats and tokenizes pairs exactly as `eval checkpoint` formats benchmark responses; for an
/// image-text model, also checks that each answer is one readable image (its header is read).
pub fn encode_pairs(
    model: &TrainableModel,
    pairs: &[PreferencePair],
) -> Result<Vec<EncodedPair>, TrainingError> {
    pairs
        .iter()
        .map(|pair| {
            let encode_error =
                |error: omnireward_local_judge::LocalJudgeError| TrainingError::Config {
                    message: format!("{}: {error}", pair.origin),
                };
            if model.reads_images() {
                let text = model
                    .encoder
                    .encode_formatted(&request_text(&pair.criterion, &pair.prompt))
                    .map_err(encode_error)?;
                return Ok(EncodedPair::Images {
                    text,
                    chosen: answer_image(pair, "chosen", &pair.chosen_media)?,
                    rejected: answer_image(pair, "rejected", &pair.rejected_media)?,
                    origin: pair.origin.clone(),
                });
            }
            if pair.has_response_media() {
                return Err(TrainingError::Config {
                    message: format!(
                        "{}: the answers are media, which a text model cannot read",
                        pair.origin
                    ),
                });
            }
            let text = |response: &str| {
                model.encoder.encode(&ScoringText {
                    criterion: &pair.criterion,
                    prompt: &pair.prompt,
                    response,
                })
            };
            Ok(EncodedPair::Texts {
                chosen: text(&pair.chosen).map_err(encode_error)?,
                rejected: text(&pair.rejected).map_err(encode_error)?,
            })
        })
        .collect()
}

/// The one image of an answer, checked to exist and to have a readable image header.
fn answer_image(
    pair: &PreferencePair,
    side: &str,
    media: &[MediaItem],
) -> Result<PathBuf, TrainingError> {
    let refuse = |message: String| TrainingError::Config {
        message: format!("{}: the {side} answer: {message}", pair.origin),
    };
    let [item] = media else {
        return Err(refuse(format!(
            "an image-text model needs exactly one image per answer, found {} media files",
            media.len()
        )));
    };
    if item.kind != MediaKind::Image {
        return Err(refuse(format!(
            "{} is a {:?} file; an image-text model trains on images",
            item.path.display(),
            item.kind
        )));
    }
    ImageReader::open(&item.path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(|error| refuse(format!("{}: {error}", item.path.display())))?
        .into_dimensions()
        .map_err(|error| refuse(format!("{}: {error}", item.path.display())))?;
    Ok(item.path.clone())
}

/// Decodes an image file by its content (as the judge decodes benchmark media).
pub fn decode_image(path: &Path, origin: &str) -> Result<DynamicImage, TrainingError> {
    let failed = |message: String| TrainingError::Config {
        message: format!("{origin}: {}: {message}", path.display()),
    };
    ImageReader::open(path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(|error| failed(error.to_string()))?
        .decode()
        .map_err(|error| failed(error.to_string()))
}

/// Rewards of the chosen and the rejected answers of `pairs`, one forward pass.
pub fn pair_rewards(
    model: &TrainableModel,
    pairs: &[&EncodedPair],
) -> Result<(Tensor, Tensor), TrainingError> {
    let rewards = match &model.model {
        RewardNetwork::Sequence(network) => {
            let mut inputs: Vec<&EncodedText> = Vec::with_capacity(2 * pairs.len());
            let mut rejected = Vec::with_capacity(pairs.len());
            for pair in pairs {
                let (chosen, other) = pair.texts().ok_or_else(|| mismatch(model))?;
                inputs.push(chosen);
                rejected.push(other);
            }
            inputs.extend(rejected);
            let batch = PaddedBatch::new(&inputs, model.encoder.pad_id(), &model.device)?;
            network
                .rewards(&batch)
                .map_err(TrainingError::tensor("the forward pass"))?
        }
        RewardNetwork::ImageText {
            model: network,
            preprocessor,
        } => image_pair_rewards(model, network.as_ref(), preprocessor, pairs)?,
    };
    let count = pairs.len();
    let chosen = rewards
        .narrow(0, 0, count)
        .map_err(TrainingError::tensor("splitting rewards"))?;
    let rejected = rewards
        .narrow(0, count, count)
        .map_err(TrainingError::tensor("splitting rewards"))?;
    Ok((chosen, rejected))
}

fn mismatch(model: &TrainableModel) -> TrainingError {
    TrainingError::Config {
        message: format!(
            "{} was given pairs encoded for another kind of model",
            model.architecture.hugging_face_name()
        ),
    }
}

/// `[chosen rewards, rejected rewards]` of image pairs: each text is embedded once and compared
/// with both of its images.
fn image_pair_rewards(
    model: &TrainableModel,
    network: &dyn ImageTextModel,
    preprocessor: &ImagePreprocessor,
    pairs: &[&EncodedPair],
) -> Result<Tensor, TrainingError> {
    let mut texts = Vec::with_capacity(pairs.len());
    let mut images = Vec::with_capacity(2 * pairs.len());
    let mut rejected = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let EncodedPair::Images {
            text,
            chosen,
            rejected: other,
            origin,
        } = pair
        else {
            return Err(mismatch(model));
        };
        texts.push(text);
        images.push(decode_image(chosen, origin)?);
        rejected.push(decode_image(other, origin)?);
    }
    images.extend(rejected);
    let pixels = preprocessor.pixels(&images, &model.device)?;
    let batch = PaddedBatch::new(&texts, model.encoder.pad_id(), &model.device)?;
    let text_embeddings = network
        .text_embeddings(&batch)
        .map_err(TrainingError::tensor("embedding the texts"))?;
    let image_embeddings = network
        .image_embeddings(&pixels)
        .map_err(TrainingError::tensor("embedding the images"))?;
    let both = Tensor::cat(&[&text_embeddings, &text_embeddings], 0)
        .map_err(TrainingError::tensor("repeating the text embeddings"))?;
    image_text_rewards(network, &both, &image_embeddings)
        .map_err(TrainingError::tensor("comparing texts and images"))
}
