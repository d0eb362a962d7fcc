//! The compare view's charts: the picked models' task bars and modality radar overlaid (one
//! colour per model, one chart per setting), and two scatter plots of a benchmark's whole board
//! (overall against size, with ties against without ties) with the picked models marked and
//! named.

use omnireward_shared::{Modality, Setting, Task};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{ChartError, ChartScores, GRID, draw_radar_grid, draw_task_axes, failed};
use crate::data::Chart;

/// The picked models' colours, in pick order (Okabe and Ito's palette: told apart with colour
/// blindness, readable on white and on dark).
pub const PICKED: [RGBColor; 4] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
];

fn picked_colour(index: usize) -> RGBColor {
    PICKED[index % PICKED.len()]
}

/// A picked model and its scores.
#[derive(Clone, Debug)]
pub struct ChartedModel {
    pub name: String,
    pub scores: ChartScores,
}

/// Per task, one bar per picked model with its 95 % interval as a whisker (none for paper
/// rows); `None` when no picked model has scores in `setting`.
pub fn overlaid_task_bars(
    models: &[ChartedModel],
    setting: Setting,
) -> Result<Option<Chart>, ChartError> {
    const NAME: &str = "compared task accuracy";
    let scores: Vec<_> = models
        .iter()
        .map(|model| model.scores.settings.get(&setting))
        .collect();
    let tasks: Vec<Task> = Task::ALL
        .into_iter()
        .filter(|task| {
            scores
                .iter()
                .flatten()
                .any(|scores| scores.tasks.contains_key(task))
        })
        .collect();
    if tasks.is_empty() {
        return Ok(None);
    }
    let width = 0.76 / models.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 340)).into_drawing_area();
        root.fill(&TRANSPARENT).map_err(failed(NAME))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_top(16 + 18 * models.len() as u32)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..tasks.len() as f64, 0.0..100.0)
            .map_err(failed(NAME))?;
        draw_task_axes(&mut chart, &tasks, "accuracy (%)").map_err(failed(NAME))?;
        for (slot, model_scores) in scores.iter().enumerate() {
            let Some(model_scores) = model_scores else {
                continue;
            };
            for (index, task) in tasks.iter().enumerate() {
                let Some((accuracy, interval)) = model_scores.tasks.get(task) else {
                    continue;
                };
                let left = index as f64 + 0.12 + slot as f64 * width;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(left, 0.0), (left + width * 0.92, accuracy * 100.0)],
                        picked_colour(slot).filled(),
                    )))
                    .map_err(failed(NAME))?;
                if let Some([low, high]) = interval {
                    let middle = left + width * 0.46;
                    chart
                        .draw_series(std::iter::once(PathElement::new(
                            vec![(middle, low * 100.0), (middle, high * 100.0)],
                            BLACK.stroke_width(1),
                        )))
                        .map_err(failed(NAME))?;
                }
            }
        }
        root.present().map_err(failed(NAME))?;
    }
    let description = models
        .iter()
        .zip(&scores)
        .map(|(model, scores)| {
            let values: Vec<String> = tasks
                .iter()
                .map(
                    |task| match scores.and_then(|scores| scores.tasks.get(task)) {
                        Some((accuracy, _)) => {
                            format!("{} {:.1} %", task.short_name(), accuracy * 100.0)
                        }
                        None => format!("{} not covered", task.short_name()),
                    },
                )
                .collect();
            format!("{}: {}", model.name, values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(". ");
    Ok(Some(Chart {
        title: format!("Accuracy per task, {}", setting_words(setting)),
        description,
        svg: with_model_legend(svg, models),
    }))
}

/// One polygon per picked model through the modalities it covers (an uncovered modality is
/// skipped, never drawn as 0 %); `None` when no picked model covers two modalities.
pub fn overlaid_radar(
    models: &[ChartedModel],
    setting: Setting,
) -> Result<Option<Chart>, ChartError> {
    const NAME: &str = "compared modality radar";
    let scores: Vec<_> = models
        .iter()
        .map(|model| model.scores.settings.get(&setting))
        .collect();
    if scores
        .iter()
        .flatten()
        .all(|scores| scores.modalities.len() < 2)
    {
        return Ok(None);
    }
    let size = 360;
    let legend_height = 18 * models.len() as u32;
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (size, size + legend_height)).into_drawing_area();
        root.fill(&TRANSPARENT).map_err(failed(NAME))?;
        let centre = (size as f64 / 2.0, (size / 2 + legend_height) as f64);
        let radius = size as f64 / 2.0 - 56.0;
        let point = |axis: usize, fraction: f64| {
            let angle = -std::f64::consts::FRAC_PI_2
                + axis as f64 * std::f64::consts::TAU / Modality::ALL.len() as f64;
            (
                (centre.0 + radius * fraction * angle.cos()).round() as i32,
                (centre.1 + radius * fraction * angle.sin()).round() as i32,
            )
        };
        draw_radar_grid(&root, point)?;
        for (slot, model_scores) in scores.iter().enumerate() {
            let Some(model_scores) = model_scores else {
                continue;
            };
            let mut outline: Vec<(i32, i32)> = Modality::ALL
                .into_iter()
                .enumerate()
                .filter_map(|(axis, modality)| {
                    Some(point(axis, *model_scores.modalities.get(&modality)?))
                })
                .collect();
            let colour = picked_colour(slot);
            root.draw(&Polygon::new(outline.clone(), colour.mix(0.12)))
                .map_err(failed(NAME))?;
            for vertex in &outline {
                root.draw(&Circle::new(*vertex, 3, colour.filled()))
                    .map_err(failed(NAME))?;
            }
            if let Some(first) = outline.first().copied() {
                outline.push(first);
            }
            root.draw(&PathElement::new(outline, colour.stroke_width(2)))
                .map_err(failed(NAME))?;
        }
        for (axis, modality) in Modality::ALL.into_iter().enumerate() {
            let (x, y) = point(axis, 1.2);
            let style = ("sans-serif", 13)
                .into_font()
                .color(&GRID)
                .pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(modality.label(), (x, y), style))
                .map_err(failed(NAME))?;
        }
        root.present().map_err(failed(NAME))?;
    }
    let description = models
        .iter()
        .zip(&scores)
        .map(|(model, scores)| {
            let values: Vec<String> = Modality::ALL
                .into_iter()
                .map(
                    |modality| match scores.and_then(|scores| scores.modalities.get(&modality)) {
                        Some(accuracy) => {
                            format!("{} {:.1} %", modality.label(), accuracy * 100.0)
                        }
                        None => format!("{} not covered", modality.label()),
                    },
                )
                .collect();
            format!("{}: {}", model.name, values.join(", "))
        })
        .collect::<Vec<_>>()
        .join(". ");
    Ok(Some(Chart {
        title: format!("Accuracy per modality, {}", setting_words(setting)),
        description,
        svg: with_model_legend(svg, models),
    }))
}

/// One row of the board in a scatter plot.
#[derive(Clone, Debug, PartialEq)]
pub struct BoardPoint {
    pub name: String,
    pub x: f64,
    pub y: f64,
    /// Its place among the picked models, which gives its colour and label.
    pub picked: Option<usize>,
}

/// What a scatter plot shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScatterAxes {
    pub title: &'static str,
    pub x_description: &'static str,
    pub y_description: &'static str,
    /// The x values are parameter counts in billions, drawn on a log scale.
    pub x_parameters: bool,
    /// Draw the line y = x (for two accuracies of the same rows).
    pub diagonal: bool,
}

/// The whole board as points, the picked rows coloured and named, the others grey.
pub fn board_scatter(points: &[BoardPoint], axes: ScatterAxes) -> Result<Chart, ChartError> {
    const NAME: &str = "board scatter";
    let x_of = |x: f64| {
        if axes.x_parameters {
            x.log10()
        } else {
            x * 100.0
        }
    };
    let (x_range, y_range) = if axes.x_parameters {
        let low = points
            .iter()
            .map(|point| x_of(point.x))
            .fold(f64::INFINITY, f64::min);
        let high = points
            .iter()
            .map(|point| x_of(point.x))
            .fold(f64::NEG_INFINITY, f64::max);
        let (low, high) = if low.is_finite() && high.is_finite() {
            ((low - 0.2).floor(), (high + 0.2).ceil())
        } else {
            (-1.0, 3.0)
        };
        (low..high.max(low + 1.0), 0.0..100.0)
    } else {
        (0.0..100.0, 0.0..100.0)
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 400)).into_drawing_area();
        root.fill(&TRANSPARENT).map_err(failed(NAME))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(48)
            .build_cartesian_2d(x_range, y_range)
            .map_err(failed(NAME))?;
        let parameters = |x: &f64| {
            let billions = 10f64.powf(*x);
            if billions >= 1.0 {
                format!("{billions:.0}B")
            } else {
                format!("{:.0}M", billions * 1000.0)
            }
        };
        let percent = |x: &f64| format!("{x:.0}");
        let x_format: &dyn Fn(&f64) -> String = if axes.x_parameters {
            &parameters
        } else {
            &percent
        };
        chart
            .configure_mesh()
            .light_line_style(GRID.mix(0.15))
            .bold_line_style(GRID.mix(0.35))
            .axis_style(GRID)
            .label_style(("sans-serif", 13).into_font().color(&GRID))
            .x_labels(if axes.x_parameters { 6 } else { 11 })
            .x_label_formatter(x_format)
            .x_desc(axes.x_description)
            .y_desc(axes.y_description)
            .draw()
            .map_err(failed(NAME))?;
        if axes.diagonal {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, 0.0), (100.0, 100.0)],
                    GRID.mix(0.6),
                )))
                .map_err(failed(NAME))?;
        }
        // The board first, the picked on top.
        let others = points.iter().filter(|point| point.picked.is_none());
        chart
            .draw_series(others.map(|point| {
                Circle::new((x_of(point.x), point.y * 100.0), 4, GRID.mix(0.7).filled())
            }))
            .map_err(failed(NAME))?;
        for point in points.iter().filter(|point| point.picked.is_some()) {
            let colour = picked_colour(point.picked.unwrap_or(0));
            let at = (x_of(point.x), point.y * 100.0);
            chart
                .draw_series(std::iter::once(Circle::new(at, 7, colour.filled())))
                .map_err(failed(NAME))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    point.name.clone(),
                    at,
                    ("sans-serif", 13)
                        .into_font()
                        .color(&colour)
                        .pos(Pos::new(HPos::Left, VPos::Bottom)),
                )))
                .map_err(failed(NAME))?;
        }
        root.present().map_err(failed(NAME))?;
    }
    let picked: Vec<String> = points
        .iter()
        .filter(|point| point.picked.is_some())
        .map(|point| {
            let x = if axes.x_parameters {
                format!("{} B", point.x)
            } else {
                format!("{:.1} %", point.x * 100.0)
            };
            format!("{}: {x}, {:.1} %", point.name, point.y * 100.0)
        })
        .collect();
    Ok(Chart {
        title: axes.title.to_owned(),
        description: format!(
            "{} rows of the board ({} against {}); picked: {}",
            points.len(),
            axes.y_description,
            axes.x_description,
            if picked.is_empty() {
                "none (or without these numbers)".to_owned()
            } else {
                picked.join("; ")
            }
        ),
        svg,
    })
}

fn setting_words(setting: Setting) -> &'static str {
    match setting {
        Setting::WithTies => "with ties",
        Setting::WithoutTies => "without ties",
    }
}

/// Adds a legend of the picked models above the plot, one to a line (the radar is narrow).
fn with_model_legend(svg: String, models: &[ChartedModel]) -> String {
    let items: String = models
        .iter()
        .enumerate()
        .map(|(index, model)| {
            let RGBColor(red, green, blue) = picked_colour(index);
            let x = 0;
            let y = 14 + index * 18;
            format!(
                r#"<rect x="{x}" y="{}" width="12" height="12" fill="rgb({red},{green},{blue})"/><text x="{}" y="{y}" font-size="13" fill="currentColor" font-family="sans-serif">{}</text>"#,
                y - 10,
                x + 18,
                escape(&model.name)
            )
        })
        .collect();
    match svg.rfind("</svg>") {
        Some(end) => format!(
            r#"{}<g transform="translate(8,2)">{items}</g></svg>{}"#,
            &svg[..end],
            &svg[end + "</svg>".len()..]
        ),
        None => svg,
    }
}

/// Model names are user input (a submission's name): escaped before they enter the SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_legend_are_escaped() {
        let models = [ChartedModel {
            name: "<script>".to_owned(),
            scores: ChartScores::default(),
        }];
        let svg = with_model_legend("<svg></svg>".to_owned(), &models);
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
    }

    #[test]
    fn the_scatter_marks_and_names_the_picked_rows() {
        let points = [
            BoardPoint {
                name: "small".to_owned(),
                x: 0.5,
                y: 0.4,
                picked: None,
            },
            BoardPoint {
                name: "big".to_owned(),
                x: 70.0,
                y: 0.6,
                picked: Some(1),
            },
        ];
        let chart = board_scatter(
            &points,
            ScatterAxes {
                title: "t",
                x_description: "parameters",
                y_description: "overall",
                x_parameters: true,
                diagonal: false,
            },
        )
        .expect("draws");
        // Plotters writes a text's content on a line of its own.
        assert!(chart.svg.contains("\nbig\n"), "{}", chart.svg);
        assert!(!chart.svg.contains("small"));
        assert!(chart.description.contains("big: 70 B, 60.0 %"));
    }
}
