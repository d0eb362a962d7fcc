//! `/methods`: how every number on the site is computed, and how to cite the benchmark (with
//! its BibTeX, also served as a file at `/methods/omni-reward.bib`).

use leptos::prelude::*;
use omnireward_shared::Modality;

use crate::leaderboard::{RankRule, SortColumn};

/// The benchmark's paper as BibTeX (arXiv 2510.23451).
pub const BIBTEX: &str = "@article{jin2025omnireward,
  title   = {Omni-Reward: Towards Generalist Omni-Modal Reward Modeling with Free-Form Preferences},
  author  = {Jin, Zhuoran and Yuan, Hongbang and Zhu, Kejian and Li, Jiachun and Cao, Pengfei and Chen, Yubo and Liu, Kang and Zhao, Jun},
  journal = {arXiv preprint arXiv:2510.23451},
  year    = {2025}
}
";

/// Where the BibTeX file is served.
pub const BIBTEX_PATH: &str = "/methods/omni-reward.bib";

/// The methods page.
#[component]
pub fn MethodsPage() -> impl IntoView {
    // The modality rows come from the code that computes the means, so they cannot drift.
    let modalities = Modality::ALL
        .into_iter()
        .map(|modality| {
            let tasks: Vec<&str> = modality.tasks().map(|task| task.short_name()).collect();
            view! { <li><strong>{modality.label()}</strong>{format!(": mean of {}", tasks.join(", "))}</li> }
        })
        .collect_view();
    view! {
        <section class="methods">
            <h1>"Methods"</h1>
            <p class="lead">"How every number on this site is computed, and how to cite the benchmark."</p>
            <h2 id="accuracy">"Accuracy"</h2>
            <ul>
                <li><strong>"Per task: "</strong>"the share of the task's pairs whose verdict equals \
                    the label. With ties (3-way) every pair counts and a tie verdict is right only \
                    on a pair labelled tie; without ties the pairs labelled tie are left out and the \
                    judge must pick a response. An unparseable answer counts as wrong."</li>
                <li><strong>"Per modality: "</strong>"the mean of the accuracies of the modality's \
                    tasks (a task belongs to the modality of its non-text part):"
                    <ul>{modalities}</ul></li>
                <li><strong>"Overall: "</strong>"the macro mean over the tasks a row covers (each \
                    task weighs the same, whatever its number of pairs). A row covering fewer than \
                    nine tasks is marked with its coverage (\"7/9 tasks\"); its overall is not on \
                    the same tasks as a nine-task row's."</li>
            </ul>
            <h2 id="ties">"Ties"</h2>
            <p>"Generative judges answer A, B or tie. Scalar reward models give two rewards; \
                without ties the larger wins; with ties a pair is a tie when the rewards differ by \
                at most a threshold. As in the paper, that threshold is chosen per task by the \
                Ties-Matter sweep on the very items the model is scored on: it is tuned on the \
                test set, an upper bound. A scalar model's page also gives the cross-validated \
                threshold and the accuracy it reaches. Baselines are content-blind rules (see \
                \"How ties are decided\" on the leaderboard)."</p>
            <h2 id="intervals">"Intervals, ranks and comparisons"</h2>
            <ul>
                <li><strong>"95 % intervals: "</strong>"percentile bootstrap, 1,000 resamples of the \
                    pairs with a fixed seed, per task, modality and overall, so a page shows the \
                    same interval every time. The paper's rows have none: the paper gives no \
                    per-item outputs."</li>
                <li><strong>"Paired tests: "</strong>"two evaluated rows are compared on the items \
                    both judged: exact McNemar test, Holm-corrected over the ranking at 5 %."</li>
                <li><strong>"Ranks: "</strong>{format!(
                    "{} {}",
                    RankRule::Groups.describe(),
                    RankRule::Strict(SortColumn::Overall).describe()
                )}</li>
            </ul>
            <h2 id="cite">"Citation"</h2>
            <p>"Omni-RewardBench is by Jin et al. (2025): "
                <a href="https://arxiv.org/abs/2510.23451">"the paper (arXiv 2510.23451)"</a>", "
                <a href="https://huggingface.co/datasets/HongbangYuan/OmniRewardBench">"the dataset"</a>
                ", "<a href="https://omnireward.github.io">"the project page"</a>"."</p>
            <pre id="bibtex">{BIBTEX}</pre>
            <p><a class="button" href=BIBTEX_PATH download="omni-reward.bib">"Download BibTeX"</a></p>
        </section>
    }
}
