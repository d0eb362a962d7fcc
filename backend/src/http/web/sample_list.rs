//! The benchmark browser's lists on the server: a task's served samples filtered by label and
//! ordered as the list asks (by the share of runs right, from [`Difficulty`]), and a sample's
//! neighbours in such a list for its previous and next links. The list's rules (filter, order,
//! URLs) are the frontend's [`SampleList`]; this applies them to the served benchmark.

use omnireward_frontend::data::Neighbours;
use omnireward_frontend::sample_list::SampleList;
use omnireward_shared::Sample;

use crate::data::Benchmark;
use crate::difficulty::Difficulty;

/// The samples of `list.task` the list holds, in its order.
pub(super) fn listed<'served>(
    served: &'served Benchmark,
    list: &SampleList,
    difficulty: &Difficulty,
) -> Vec<&'served Sample> {
    list.arrange(
        served.task_samples(list.task),
        |sample| sample.label,
        |sample| {
            difficulty
                .sample(sample.task, &sample.id)
                .and_then(|difficulty| difficulty.with_ties)
                .and_then(|share| share.fraction())
        },
    )
}

/// Where sample `id` stands in `listed`, with its neighbours; `None` when the list does not
/// hold it.
pub(super) fn neighbours(listed: &[&Sample], id: &str) -> Option<Neighbours> {
    let position = listed.iter().position(|sample| sample.id == id)?;
    let id_at = |index: Option<usize>| {
        index
            .and_then(|index| listed.get(index))
            .map(|sample| sample.id.clone())
    };
    Some(Neighbours {
        previous: id_at(position.checked_sub(1)),
        next: id_at(Some(position + 1)),
        position: position + 1,
        of: listed.len(),
    })
}
