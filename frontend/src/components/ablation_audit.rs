//! An ablation audit on the model page: per setting and task, the accuracy of the base run
//! (with the part) and of the ablated run (without it), and the paired difference with its
//! interval and McNemar p. A judge whose accuracy does not drop is not using the part.

use leptos::prelude::*;
use omnireward_shared::wire::AblationAudit;

use crate::format;

/// The audit of an ablated run; its base run linked when stored.
#[component]
pub fn AblationAuditTable(audit: AblationAudit) -> impl IntoView {
    let parts = audit.ablations.join(" and ");
    let base = match audit.base_run {
        Some(base) => view! {
            " Base run (same judge on full inputs): "
            <a href=format!("#run-{base}")>{format!("run {base}")}</a> "."
        }
        .into_any(),
        None => " No base run (the same judge on full inputs) is stored yet.".into_any(),
    };
    let tables = audit.comparison.map(|comparison| {
        comparison
            .settings
            .into_iter()
            .map(|(setting, compared)| {
                let rows = compared
                    .tasks
                    .into_iter()
                    .map(|(task, paired)| (task.short_name().to_owned(), paired))
                    .chain(std::iter::once(("Overall".to_owned(), compared.overall)))
                    .map(|(name, paired)| {
                        view! {
                            <tr>
                                <th scope="row">{name}</th>
                                <td class="number">{paired.items}</td>
                                <td class="score">{format::percent(paired.second_accuracy)}</td>
                                <td class="score">{format::percent(paired.first_accuracy)}</td>
                                <td class="score">{format!("{:+.1}", paired.difference * 100.0)}</td>
                                <td>{format::interval(paired.ci95)}</td>
                                <td class="number">{format!("{:.3}", paired.mcnemar_p)}</td>
                            </tr>
                        }
                    })
                    .collect_view();
                view! {
                    <table class="scores compact">
                        <caption>{setting.label()}</caption>
                        <thead><tr>
                            <th scope="col">"Task"</th><th scope="col">"Items"</th>
                            <th scope="col">"With"</th><th scope="col">"Without"</th>
                            <th scope="col">"Difference (points)"</th><th scope="col">"95 % interval"</th>
                            <th scope="col">"McNemar p"</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }
            })
            .collect_view()
    });
    view! {
        <section class="ablation-audit">
            <h4>{format!("Ablation audit: without the {parts}")}</h4>
            <p class="hint">
                "Accuracy with the part (base run) and without it (this run) on the samples both \
                 judged; the difference is without minus with, with a paired bootstrap interval."
                {base}
            </p>
            {tables}
        </section>
    }
}
