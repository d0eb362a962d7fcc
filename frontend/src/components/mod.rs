//! Reusable view components.

mod metric_card;
mod modality_legend;

pub use metric_card::MetricCardTable;
pub use modality_legend::ModalityLegend;
