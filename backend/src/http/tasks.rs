//! `GET /tasks`: the nine tasks with their modalities and the served benchmark's sample counts.

use axum::Json;
use axum::extract::State;
use omnireward_shared::{BenchmarkIdentity, Modality, Setting, Task};
use serde::Serialize;

use super::AppState;
use crate::data::Benchmark;

/// The JSON document of `GET /tasks`.
#[derive(Debug, Serialize)]
pub(super) struct TasksView {
    /// The benchmark the counts are of.
    benchmark: BenchmarkIdentity,
    /// All nine tasks in the paper's column order.
    tasks: Vec<TaskView>,
}

/// One task.
#[derive(Debug, Serialize)]
struct TaskView {
    key: Task,
    short_name: &'static str,
    modality: Modality,
    input_modalities: &'static [Modality],
    response_modality: Modality,
    /// Samples evaluated per setting (w/o Ties leaves out the samples labelled tie).
    samples: SampleCounts,
}

#[derive(Debug, Default, Serialize)]
struct SampleCounts {
    with_ties: usize,
    without_ties: usize,
}

/// `GET /tasks`.
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
