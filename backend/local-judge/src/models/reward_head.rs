//! The reward head of a decoder reward model read at the last token: trl's value head
//! (`v_head.summary.weight` and `.bias`, in `value_head.safetensors` beside the model as trl and
//! LLaMA-Factory save it, or in the shards) or a sequence-classification `score` head. Shared by
//! the Qwen2-VL and MiniCPM-o reward models.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::layers::config_error;
use crate::checkpoint::VALUE_HEAD_FILE;
use crate::error::LocalJudgeError;
use crate::weights::load_var_builder;

/// How the reward is read from the last hidden state.
#[derive(Debug)]
pub(crate) enum RewardHead {
    /// trl's value head: one output, with a bias.
    Value { weight: Tensor, bias: Tensor },
    /// `…ForSequenceClassification`'s `score`: the chosen output, no bias.
    Score { weight: Tensor, index: usize },
}

impl RewardHead {
    /// The head of the model in `folder`: [`VALUE_HEAD_FILE`] when the folder has one, else a
    /// value or `score` head among `weights`.
    pub(crate) fn load_beside(
        folder: &Path,
        config_file: &Path,
        weights: &VarBuilder<'static>,
        hidden: usize,
        dtype: DType,
        device: &Device,
    ) -> Result<RewardHead, LocalJudgeError> {
        let head_file = folder.join(VALUE_HEAD_FILE);
        let head_weights = if head_file.is_file() {
            Some(load_var_builder(&[&head_file], dtype, device)?)
        } else {
            None
        };
        RewardHead::load(config_file, weights, head_weights.as_ref(), hidden)
    }

    pub(crate) fn load(
        config_file: &Path,
        weights: &VarBuilder<'static>,
        value_head: Option<&VarBuilder<'static>>,
        hidden: usize,
    ) -> Result<RewardHead, LocalJudgeError> {
        let value = |builder: &VarBuilder<'static>| -> candle_core::Result<RewardHead> {
            Ok(RewardHead::Value {
                weight: builder.get((1, hidden), "v_head.summary.weight")?,
                bias: builder.get(1, "v_head.summary.bias")?,
            })
        };
        if let Some(builder) = value_head {
            return value(builder)
                .map_err(LocalJudgeError::model(format!("reading {VALUE_HEAD_FILE}")));
        }
        if weights.contains_tensor("v_head.summary.weight") {
            return value(weights).map_err(LocalJudgeError::model("reading the value head"));
        }
        if weights.contains_tensor("score.weight") {
            let weight = weights
                .get_unchecked("score.weight")
                .map_err(LocalJudgeError::model("reading the score head"))?;
            return Ok(RewardHead::Score { weight, index: 0 });
        }
        Err(config_error(
            config_file,
            "(weights)",
            format!(
                "no reward head: neither {VALUE_HEAD_FILE}, `v_head.summary.*` in the weights, nor a \
                 `score` head"
            ),
        ))
    }

    /// The reward of each row of `hidden` `[rows, hidden]`, in f32.
    pub(crate) fn rewards(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            RewardHead::Value { weight, bias } => hidden
                .to_dtype(weight.dtype())?
                .matmul(&weight.t()?)?
                .broadcast_add(bias)?
                .squeeze(1)?
                .to_dtype(DType::F32),
            RewardHead::Score { weight, index } => hidden
                .to_dtype(weight.dtype())?
                .matmul(&weight.t()?)?
                .narrow(1, *index, 1)?
                .squeeze(1)?
                .to_dtype(DType::F32),
        }
    }
}
