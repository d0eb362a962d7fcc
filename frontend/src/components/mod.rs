//! Reusable view components.

mod modality_legend;

pub use modality_legend::ModalityLegend;
