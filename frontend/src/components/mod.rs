//! Reusable view components.

mod ablation_audit;
mod metric_card;
mod modality_legend;

pub use ablation_audit::AblationAuditTable;
pub use metric_card::MetricCardTable;
pub use modality_legend::ModalityLegend;
