//! The legend that explains which tasks roll up into which modality column, built from the one
//! mapping in the shared crate so the UI can never disagree with the scorer.

use leptos::prelude::*;
use omnireward_shared::Modality;

/// A table: modality, then its tasks' short names with their config keys as tooltips.
#[component]
pub fn ModalityLegend() -> impl IntoView {
    view! {
        <table class="modality-legend">
            <caption>"Omni-RewardBench (Jin et al., 2025): tasks per modality"</caption>
            <tbody>
                {Modality::ALL
                    .into_iter()
                    .map(|modality| {
                        view! {
                            <tr>
                                <th scope="row">{modality.label()}</th>
                                <td>
                                    {modality
                                        .tasks()
                                        .map(|task| {
                                            view! {
                                                <abbr title=task.key()>{task.short_name()}</abbr>
                                                " "
                                            }
                                        })
                                        .collect_view()}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_lists_every_task_under_its_modality() {
        let html = view! { <ModalityLegend/> }.to_html();
        assert!(html.contains("Jin et al., 2025"), "{html}");
        for task in omnireward_shared::Task::ALL {
            assert!(
                html.contains(&format!("title=\"{}\"", task.key())),
                "{} in {html}",
                task.key()
            );
        }
        let image_row = html
            .split("<tr>")
            .find(|row| row.contains(">Image<"))
            .expect("image row");
        assert!(
            image_row.contains("TI2T") && image_row.contains("T2I") && image_row.contains("TI2I")
        );
        assert!(!image_row.contains("T2V"));
    }
}
