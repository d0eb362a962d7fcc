//! The benchmark browser's list of samples, free of any rendering: which samples of a task are
//! listed (all, only those labelled tie, or only the others) and in which order (the
//! benchmark's, or by the share of evaluated runs that got them right), as a URL query so a
//! list can be shared and a sample page's previous and next links walk the same list.

use omnireward_shared::{Label, Preference, Task};
use serde::{Deserialize, Serialize};

use crate::leaderboard::{decode_component, encode_component};

/// Which samples the list keeps, by label.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TiesFilter {
    #[default]
    All,
    /// Only the pairs labelled tie.
    Tie,
    /// Only the pairs with a preferred response.
    NotTie,
}

impl TiesFilter {
    /// Every choice, in the form's order.
    pub const ALL: [TiesFilter; 3] = [TiesFilter::All, TiesFilter::Tie, TiesFilter::NotTie];

    /// The URL value.
    pub fn key(self) -> &'static str {
        match self {
            TiesFilter::All => "all",
            TiesFilter::Tie => "tie",
            TiesFilter::NotTie => "not_tie",
        }
    }

    /// The form's label.
    pub fn label(self) -> &'static str {
        match self {
            TiesFilter::All => "All labels",
            TiesFilter::Tie => "Labelled tie",
            TiesFilter::NotTie => "Not labelled tie",
        }
    }

    /// Whether a sample with `label` is listed.
    pub fn keeps(self, label: Label) -> bool {
        match self {
            TiesFilter::All => true,
            TiesFilter::Tie => label == Preference::Tie,
            TiesFilter::NotTie => label != Preference::Tie,
        }
    }
}

/// The order of the list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleOrder {
    /// The benchmark's own order.
    #[default]
    Benchmark,
    /// Fewest runs right first; samples no run judged last.
    Hardest,
    /// Most runs right first; samples no run judged last.
    Easiest,
}

impl SampleOrder {
    /// Every choice, in the form's order.
    pub const ALL: [SampleOrder; 3] = [
        SampleOrder::Benchmark,
        SampleOrder::Hardest,
        SampleOrder::Easiest,
    ];

    /// The URL value.
    pub fn key(self) -> &'static str {
        match self {
            SampleOrder::Benchmark => "benchmark",
            SampleOrder::Hardest => "hardest",
            SampleOrder::Easiest => "easiest",
        }
    }

    /// The form's label.
    pub fn label(self) -> &'static str {
        match self {
            SampleOrder::Benchmark => "Benchmark order",
            SampleOrder::Hardest => "Hardest first (fewest runs right)",
            SampleOrder::Easiest => "Easiest first (most runs right)",
        }
    }
}

/// One list of a task's samples: what the benchmark browser shows and what a sample page's
/// previous and next links walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleList {
    pub task: Task,
    pub ties: TiesFilter,
    pub order: SampleOrder,
}

impl SampleList {
    /// The list a query (without `?`) asks for; `task` when the query names none (a sample
    /// page's task is in its path). Unknown values are ignored, so a stale link still opens.
    pub fn from_query(query: &str, task: Task) -> SampleList {
        let mut list = SampleList {
            task,
            ties: TiesFilter::All,
            order: SampleOrder::Benchmark,
        };
        for (name, value) in query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(name, value)| (name, decode_component(value)))
        {
            match name {
                "task" => {
                    if let Ok(task) = value.parse() {
                        list.task = task;
                    }
                }
                "ties" => {
                    if let Some(ties) = TiesFilter::ALL.into_iter().find(|ties| ties.key() == value)
                    {
                        list.ties = ties;
                    }
                }
                "order" => {
                    if let Some(order) = SampleOrder::ALL
                        .into_iter()
                        .find(|order| order.key() == value)
                    {
                        list.order = order;
                    }
                }
                _ => {}
            }
        }
        list
    }

    /// The query of the list's filter and order (not its task), defaults left out: what a
    /// sample page's URL carries.
    pub fn refinement_query(&self) -> String {
        let mut parts = Vec::new();
        if self.ties != TiesFilter::All {
            parts.push(format!("ties={}", encode_component(self.ties.key())));
        }
        if self.order != SampleOrder::Benchmark {
            parts.push(format!("order={}", self.order.key()));
        }
        parts.join("&")
    }

    /// The benchmark browser's URL of this list at `page`.
    pub fn browser_href(&self, page: usize) -> String {
        let mut href = format!("/benchmark?task={}", self.task.key());
        let refinement = self.refinement_query();
        if !refinement.is_empty() {
            href.push('&');
            href.push_str(&refinement);
        }
        if page > 1 {
            href.push_str(&format!("&page={page}"));
        }
        href
    }

    /// The URL of sample `id` of this list's task, remembering the list.
    pub fn sample_href(&self, id: &str) -> String {
        let refinement = self.refinement_query();
        let path = format!("/benchmark/{}/{}", self.task.key(), encode_component(id));
        if refinement.is_empty() {
            path
        } else {
            format!("{path}?{refinement}")
        }
    }

    /// The listed items of `items` (the task's samples in benchmark order), in the list's
    /// order. `label` gives an item's label; `right` the share of runs that judged it right
    /// (`None`: no run judged it, listed last in either order). The sort is stable, so equal
    /// shares keep the benchmark's order.
    pub fn arrange<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        label: impl Fn(&T) -> Label,
        right: impl Fn(&T) -> Option<f64>,
    ) -> Vec<T> {
        let mut listed: Vec<T> = items
            .into_iter()
            .filter(|item| self.ties.keeps(label(item)))
            .collect();
        let descending = match self.order {
            SampleOrder::Benchmark => return listed,
            SampleOrder::Hardest => false,
            SampleOrder::Easiest => true,
        };
        listed.sort_by(|left, right_item| match (right(left), right(right_item)) {
            (Some(a), Some(b)) => {
                let order = a.total_cmp(&b);
                if descending { order.reverse() } else { order }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        listed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_round_trips_through_its_urls() {
        let list = SampleList::from_query(
            "task=text_to_image&ties=not_tie&order=hardest&page=2",
            Task::TextToText,
        );
        assert_eq!(
            list,
            SampleList {
                task: Task::TextToImage,
                ties: TiesFilter::NotTie,
                order: SampleOrder::Hardest,
            }
        );
        assert_eq!(
            list.browser_href(2),
            "/benchmark?task=text_to_image&ties=not_tie&order=hardest&page=2"
        );
        assert_eq!(
            list.sample_href("t2i 1"),
            "/benchmark/text_to_image/t2i%201?ties=not_tie&order=hardest"
        );
        let plain = SampleList::from_query("ties=bogus", Task::TextToAudio);
        assert_eq!(plain.sample_href("x"), "/benchmark/text_to_audio/x");
        assert_eq!(plain.browser_href(1), "/benchmark?task=text_to_audio");
    }

    #[test]
    fn the_list_filters_by_label_and_sorts_by_share_keeping_unjudged_last() {
        use Preference::*;
        // (id, label, share right)
        let items = [
            ("a", Response1, Some(0.5)),
            ("b", Tie, Some(0.0)),
            ("c", Response2, None),
            ("d", Response1, Some(1.0)),
            ("e", Response2, Some(0.5)),
        ];
        let ids = |ties, order| {
            SampleList {
                task: Task::TextToText,
                ties,
                order,
            }
            .arrange(items, |item| item.1, |item| item.2)
            .iter()
            .map(|item| item.0)
            .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(TiesFilter::All, SampleOrder::Benchmark),
            ["a", "b", "c", "d", "e"]
        );
        assert_eq!(
            ids(TiesFilter::All, SampleOrder::Hardest),
            ["b", "a", "e", "d", "c"]
        );
        assert_eq!(
            ids(TiesFilter::All, SampleOrder::Easiest),
            ["d", "a", "e", "b", "c"]
        );
        assert_eq!(ids(TiesFilter::Tie, SampleOrder::Benchmark), ["b"]);
        assert_eq!(
            ids(TiesFilter::NotTie, SampleOrder::Hardest),
            ["a", "e", "d", "c"]
        );
    }
}
