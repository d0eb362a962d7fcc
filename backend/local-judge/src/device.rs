//! Devices and dtypes: `--device cpu|cuda[:N]|auto`, f32 on the CPU, half precision on CUDA
//! where the architecture's kernels are safe in it.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device};
use serde::Serialize;

use crate::error::LocalJudgeError;

/// Where a model runs, as asked for on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// The CPU.
    Cpu,
    /// CUDA device N.
    Cuda(usize),
    /// CUDA device 0 when this build has CUDA and a device answers, else the CPU.
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = LocalJudgeError;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        let invalid = |message: &str| LocalJudgeError::Device {
            given: given.to_owned(),
            message: message.to_owned(),
        };
        match given {
            "cpu" => Ok(DeviceChoice::Cpu),
            "auto" => Ok(DeviceChoice::Auto),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(ordinal) => ordinal
                    .parse()
                    .map(DeviceChoice::Cuda)
                    .map_err(|_| invalid("expected cuda:N with N a device number")),
                None => Err(invalid("expected cpu, cuda, cuda:N or auto")),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Cpu => formatter.write_str("cpu"),
            DeviceChoice::Cuda(ordinal) => write!(formatter, "cuda:{ordinal}"),
            DeviceChoice::Auto => formatter.write_str("auto"),
        }
    }
}

impl DeviceChoice {
    /// Opens the device. `cuda` in a build without the `cuda` feature is an error that says how
    /// to get one; `auto` falls back to the CPU silently.
    pub fn open(self) -> Result<Device, LocalJudgeError> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(ordinal) => {
                open_cuda(ordinal).map_err(|message| LocalJudgeError::Device {
                    given: self.to_string(),
                    message,
                })
            }
            DeviceChoice::Auto => Ok(open_cuda(0).unwrap_or(Device::Cpu)),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda(ordinal: usize) -> Result<Device, String> {
    Device::new_cuda(ordinal).map_err(|error| error.to_string())
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(_ordinal: usize) -> Result<Device, String> {
    Err(
        "this build has no CUDA support; build with `--features cuda` (see scripts/gpu-check.sh)"
            .to_owned(),
    )
}

/// A short name of a device for run records: `cpu` or `cuda:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".to_owned(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// The dtype a model runs in: f32 on the CPU (half precision is slower there and less exact);
/// bf16 on CUDA for decoders and image-text models. Encoders stay in f32 on CUDA too: their masks
/// are finite in every dtype now (`bert_encoder::additive_mask`; candle-transformers' BERT mask
/// turns into NaN in half precision, architecture.md section 4), but their bf16 rewards and speed
/// have not yet been measured on a GPU.
pub fn dtype_for(device: &Device, half_precision_safe: bool) -> DType {
    if device.is_cuda() && half_precision_safe {
        DType::BF16
    } else {
        DType::F32
    }
}

/// The widest SIMD instruction set this CPU gives the matrix products (the `gemm` crate) and the
/// vectorised activations, chosen at run time: `avx512f`, `avx2+fma` or `baseline` (x86-64),
/// `neon` (aarch64). Recorded in benchmark reports; scripts/check-avx2-path.sh checks it under an
/// emulated AVX2-only CPU.
pub fn cpu_simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            "avx512f"
        } else if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            "avx2+fma"
        } else {
            "baseline"
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "baseline"
    }
}

/// A dtype's name for run records.
pub fn dtype_name(dtype: DType) -> &'static str {
    dtype.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prints the SIMD level; with `OMNIREWARD_EXPECT_CPU_SIMD` set, checks it (the AVX2-path
    /// check runs this test under an emulated CPU without AVX-512).
    #[test]
    fn cpu_simd_is_the_expected_level() {
        let level = cpu_simd();
        eprintln!("cpu SIMD: {level}");
        if let Ok(expected) = std::env::var("OMNIREWARD_EXPECT_CPU_SIMD") {
            assert_eq!(level, expected);
        }
    }

    #[test]
    fn device_choices_parse_and_print() {
        for (given, expected) in [
            ("cpu", DeviceChoice::Cpu),
            ("auto", DeviceChoice::Auto),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            assert_eq!(given.parse::<DeviceChoice>().expect(given), expected);
        }
        assert_eq!(DeviceChoice::Cuda(2).to_string(), "cuda:2");
        for bad in ["gpu", "cuda:", "cuda:x", "CPU"] {
            let message = bad.parse::<DeviceChoice>().expect_err(bad).to_string();
            assert!(message.contains(bad), "{message}");
        }
    }

    #[test]
    fn cpu_opens_and_auto_falls_back() {
        assert!(DeviceChoice::Cpu.open().expect("cpu").is_cpu());
        #[cfg(not(feature = "cuda"))]
        {
            assert!(DeviceChoice::Auto.open().expect("auto").is_cpu());
            let message = DeviceChoice::Cuda(0)
                .open()
                .expect_err("no cuda")
                .to_string();
            assert!(message.contains("--features cuda"), "{message}");
        }
        assert_eq!(dtype_for(&Device::Cpu, true), DType::F32);
    }
}
