//! Which model family a checkpoint is, read from `config.json` (`architectures`, then
//! `model_type`), and what each family can see. The vision-language `*ForConditionalGeneration`
//! names are reward models only with a reward head beside them ([`crate::checkpoint`] refuses
//! those without one: they are generative judges).

use serde::Serialize;

/// A model family this crate can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// `BertForSequenceClassification`.
    Bert,
    /// `DebertaV2ForSequenceClassification`.
    DebertaV2,
    /// `ModernBertForSequenceClassification`.
    ModernBert,
    /// `XLMRobertaForSequenceClassification`.
    XlmRoberta,
    /// `Qwen2ForSequenceClassification`.
    Qwen2,
    /// `Qwen3ForSequenceClassification`.
    Qwen3,
    /// `LlamaForSequenceClassification`.
    Llama,
    /// `CLIPModel` (PickScore, HPSv2 and other CLIP-based image reward models).
    Clip,
    /// `SiglipModel`.
    Siglip,
    /// `BertModel`: a sentence-embedding encoder (all-MiniLM-L6-v2), used as a zero-training
    /// relevance reward.
    BertEmbedding,
    /// `Qwen2VLForConditionalGeneration` with a trl value head (HPSv3-style reward models).
    Qwen2Vl,
    /// `Qwen2_5_VLForConditionalGeneration` with a trl value head (Skywork-VL-Reward).
    Qwen25Vl,
    /// `Qwen2VLForSequenceClassification`: a `score` head (VideoScore-Qwen2-VL).
    Qwen2VlSequenceClassification,
    /// `MiniCPMO` (MiniCPM-o 2.6) with a trl value head: Omni-RewardModel-BT.
    MiniCpmO,
}

/// How a family turns inputs into a reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Bidirectional encoder with a classification head over the joined text.
    EncoderClassifier,
    /// Causal decoder with a `score` head read at the last non-padding token.
    DecoderClassifier,
    /// Scaled cosine similarity between a text embedding and image embeddings.
    ImageText,
    /// Cosine similarity between the embeddings of the request and of the response.
    TextEmbedding,
    /// A vision-language decoder reading a whole conversation (criterion as the system turn,
    /// media and text in the user turn, the response as the assistant turn), its reward read at
    /// the last token.
    MultimodalConversation,
    /// An omni-modal decoder reading a whole conversation with images, videos and audio
    /// (MiniCPM-o), its reward read at the last token.
    OmniConversation,
}

impl Architecture {
    /// Every supported family, in the order errors list them.
    pub const ALL: [Architecture; 14] = [
        Architecture::Bert,
        Architecture::DebertaV2,
        Architecture::ModernBert,
        Architecture::XlmRoberta,
        Architecture::Qwen2,
        Architecture::Qwen3,
        Architecture::Llama,
        Architecture::Clip,
        Architecture::Siglip,
        Architecture::BertEmbedding,
        Architecture::Qwen2Vl,
        Architecture::Qwen25Vl,
        Architecture::Qwen2VlSequenceClassification,
        Architecture::MiniCpmO,
    ];

    /// The `architectures` entry `transformers` writes for this family.
    pub fn hugging_face_name(self) -> &'static str {
        match self {
            Architecture::Bert => "BertForSequenceClassification",
            Architecture::DebertaV2 => "DebertaV2ForSequenceClassification",
            Architecture::ModernBert => "ModernBertForSequenceClassification",
            Architecture::XlmRoberta => "XLMRobertaForSequenceClassification",
            Architecture::Qwen2 => "Qwen2ForSequenceClassification",
            Architecture::Qwen3 => "Qwen3ForSequenceClassification",
            Architecture::Llama => "LlamaForSequenceClassification",
            Architecture::Clip => "CLIPModel",
            Architecture::Siglip => "SiglipModel",
            Architecture::BertEmbedding => "BertModel",
            Architecture::Qwen2Vl => "Qwen2VLForConditionalGeneration",
            Architecture::Qwen25Vl => "Qwen2_5_VLForConditionalGeneration",
            Architecture::Qwen2VlSequenceClassification => "Qwen2VLForSequenceClassification",
            Architecture::MiniCpmO => "MiniCPMO",
        }
    }

    /// How this family scores.
    pub fn kind(self) -> ModelKind {
        match self {
            Architecture::Bert
            | Architecture::DebertaV2
            | Architecture::ModernBert
            | Architecture::XlmRoberta => ModelKind::EncoderClassifier,
            Architecture::Qwen2 | Architecture::Qwen3 | Architecture::Llama => {
                ModelKind::DecoderClassifier
            }
            Architecture::Clip | Architecture::Siglip => ModelKind::ImageText,
            Architecture::BertEmbedding => ModelKind::TextEmbedding,
            Architecture::Qwen2Vl
            | Architecture::Qwen25Vl
            | Architecture::Qwen2VlSequenceClassification => ModelKind::MultimodalConversation,
            Architecture::MiniCpmO => ModelKind::OmniConversation,
        }
    }

    /// The family `transformers` calls `name`, if supported.
    pub fn from_hugging_face_name(name: &str) -> Option<Architecture> {
        Architecture::ALL
            .into_iter()
            .find(|architecture| architecture.hugging_face_name() == name)
    }

    /// Whether the family's CUDA kernels are safe in half precision (see [`crate::device`]): the
    /// CUDA dtype is bf16, never f16, so the Qwen2-VL vision tower (which overflows f16) is safe.
    pub fn half_precision_safe(self) -> bool {
        !matches!(
            self.kind(),
            ModelKind::EncoderClassifier | ModelKind::TextEmbedding
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::SUPPORTED_ARCHITECTURES;

    #[test]
    fn the_checkpoint_checks_accept_exactly_the_families_that_load() {
        let names: Vec<_> = Architecture::ALL
            .into_iter()
            .map(Architecture::hugging_face_name)
            .collect();
        assert_eq!(names, SUPPORTED_ARCHITECTURES);
    }

    #[test]
    fn families_are_found_by_their_transformers_names() {
        assert_eq!(
            Architecture::from_hugging_face_name("Qwen2ForSequenceClassification"),
            Some(Architecture::Qwen2)
        );
        assert_eq!(
            Architecture::from_hugging_face_name("GPT2LMHeadModel"),
            None
        );
    }
}
