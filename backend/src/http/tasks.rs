//! `GET /tasks`: the nine tasks with their modalities and the served benchmark's sample counts.

use axum::Json;
use axum::extract::State;
use omnireward_shared::{BenchmarkIdentity, Modality, Setting, Task};
use serde::Serialize;

use super::AppState;
use crate::data::Benchmark;

/// The JSON document of `GET /tasks`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(super) struct TasksView {
    /// The benchmark the counts are of.
    #[schema(value_type = super::schemas::BenchmarkIdentity)]
    benchmark: BenchmarkIdentity,
    /// All nine tasks in the paper's column order.
    tasks: Vec<TaskView>,
}

/// One task.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct TaskView {
    #[schema(value_type = super::schemas::Task)]
    key: Task,
    short_name: &'static str,
    #[schema(value_type = super::schemas::Modality)]
    modality: Modality,
    #[schema(value_type = Vec<super::schemas::Modality>)]
    input_modalities: &'static [Modality],
    #[schema(value_type = super::schemas::Modality)]
    response_modality: Modality,
    /// Samples evaluated per setting (w/o Ties leaves out the samples labelled tie).
    samples: SampleCounts,
}

#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
struct SampleCounts {
    with_ties: usize,
    without_ties: usize,
}

/// `GET /tasks`.
#[utoipa::path(
    get,
    path = "/tasks",
    tag = "benchmark",
    responses((status = 200, description = "The nine tasks.", body = TasksView))
)]
pub(super) async fn list(State(state): State<AppState>) -> Json<TasksView> {
    Json(tasks_view(&state.benchmark))
}

fn tasks_view(benchmark: &Benchmark) -> TasksView {
    let tasks = Task::ALL
        .into_iter()
        .map(|task| {
            let mut samples = SampleCounts::default();
            for sample in benchmark.task_samples(task) {
                samples.with_ties += usize::from(Setting::WithTies.includes(sample.label));
                samples.without_ties += usize::from(Setting::WithoutTies.includes(sample.label));
            }
            TaskView {
                key: task,
                short_name: task.short_name(),
                modality: task.modality(),
                input_modalities: task.input_modalities(),
                response_modality: task.response_modality(),
                samples,
            }
        })
        .collect();
    TasksView {
        benchmark: benchmark.identity.clone(),
        tasks,
    }
}
