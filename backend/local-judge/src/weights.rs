//! Reading safetensors weights into a `VarBuilder`.
//!
//! Files are read into memory rather than memory-mapped: mapping needs `unsafe` (a file changed
//! under the map is undefined behaviour) and the crate forbids it. The folder has already passed
//! the header checks of [`crate::checkpoint`], so sizes are known to add up.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::error::LocalJudgeError;

/// Loads every tensor of the given shards onto `device` and returns a builder that converts
/// them to `dtype` as the model asks for them.
pub fn load_var_builder(
    files: &[impl AsRef<Path>],
    dtype: DType,
    device: &Device,
) -> Result<VarBuilder<'static>, LocalJudgeError> {
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for file in files {
        let file = file.as_ref();
        let loaded = candle_core::safetensors::load(file, device).map_err(
            LocalJudgeError::model(format!("loading weights from {}", file.display())),
        )?;
        tensors.extend(loaded);
    }
    Ok(VarBuilder::from_tensors(tensors, dtype, device))
}
