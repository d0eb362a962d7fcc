//! `GET /tasks`: the nine tasks with their modalities and the served benchmark's sample counts.

use axum::Json;
use axum::extract::State;
use omnireward_shared::wire::{SampleCounts, TaskDocument, TasksDocument};
use omnireward_shared::{Setting, Task};

use super::AppState;
use crate::data::Benchmark;

/// `GET /tasks`.
#[utoipa::path(
    get,
    path = "/tasks",
    tag = "benchmark",
    responses((status = 200, description = "The nine tasks.", body = TasksDocument))
)]
pub(super) async fn list(State(state): State<AppState>) -> Json<TasksDocument> {
    Json(tasks_document(&state.benchmark))
}

/// The served benchmark's tasks: the service behind `GET /tasks` and the benchmark browser.
pub(super) fn tasks_document(benchmark: &Benchmark) -> TasksDocument {
    let tasks = Task::ALL
        .into_iter()
        .map(|task| {
            let mut samples = SampleCounts::default();
            for sample in benchmark.task_samples(task) {
                samples.with_ties += usize::from(Setting::WithTies.includes(sample.label));
                samples.without_ties += usize::from(Setting::WithoutTies.includes(sample.label));
            }
            TaskDocument {
                key: task,
                short_name: task.short_name().to_owned(),
                modality: task.modality(),
                input_modalities: task.input_modalities().to_vec(),
                response_modality: task.response_modality(),
                samples,
            }
        })
        .collect();
    TasksDocument {
        benchmark: benchmark.identity.clone(),
        tasks,
    }
}
