//! Model-page charts drawn with `plotters` into SVG on the server: per-task accuracy with 95 %
//! intervals for both settings, a modality radar, and for generative judges the swap consistency
//! and position bias per task. The SVG travels in the page data, so the browser bundle carries
//! no plotting code. The task bars and the radar are drawn from [`ChartScores`], which a
//! scorecard and the paper's reported numbers both give, so a paper model's page has the same
//! charts as an evaluated model's (without intervals: the paper gives none).

use std::collections::BTreeMap;

use omnireward_shared::{Modality, Scorecard, Setting, Task};

use crate::data::ReportedSetting;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::data::{Chart, LeaderboardRow};

pub mod compare;

/// The accuracies the task bars and the radar draw, per setting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChartScores {
    settings: BTreeMap<Setting, SettingScores>,
}

/// One setting's accuracies, as fractions, with 95 % intervals where known.
#[derive(Clone, Debug, Default, PartialEq)]
struct SettingScores {
    tasks: BTreeMap<Task, (f64, Option<[f64; 2]>)>,
    modalities: BTreeMap<Modality, f64>,
}

impl ChartScores {
    /// A scorecard's accuracies and intervals.
    pub fn of_scorecard(scorecard: &Scorecard) -> ChartScores {
        let settings = scorecard
            .settings
            .iter()
            .map(|(setting, scores)| {
                let tasks = scores
                    .tasks
                    .iter()
                    .map(|(task, score)| (*task, (score.accuracy, Some(score.ci95))))
                    .collect();
                let modalities = scores
                    .modalities
                    .iter()
                    .map(|(modality, score)| (*modality, score.accuracy))
                    .collect();
                (*setting, SettingScores { tasks, modalities })
            })
            .collect();
        ChartScores { settings }
    }

    /// The numbers of leaderboard rows, one per setting: task accuracies with their intervals
    /// (evaluated rows) and modality means.
    pub fn of_rows<'row>(
        rows: impl IntoIterator<Item = (Setting, &'row LeaderboardRow)>,
    ) -> ChartScores {
        let settings = rows
            .into_iter()
            .filter(|(_, row)| !row.tasks.is_empty())
            .map(|(setting, row)| {
                let interval = |task: &Task| {
                    row.intervals
                        .as_ref()
                        .and_then(|intervals| intervals.tasks.get(task).copied())
                };
                let tasks = row
                    .tasks
                    .iter()
                    .map(|(task, accuracy)| (*task, (*accuracy, interval(task))))
                    .collect();
                (
                    setting,
                    SettingScores {
                        tasks,
                        modalities: row.modalities.clone(),
                    },
                )
            })
            .collect();
        ChartScores { settings }
    }

    /// The paper's numbers: task accuracies, and each modality's mean over its covered tasks
    /// (as a scorecard computes it).
    pub fn of_reported(reported: &BTreeMap<Setting, ReportedSetting>) -> ChartScores {
        let settings = reported
            .iter()
            .filter(|(_, scores)| !scores.tasks.is_empty())
            .map(|(setting, scores)| {
                let tasks = scores
                    .tasks
                    .iter()
                    .map(|(task, accuracy)| (*task, (*accuracy, None)))
                    .collect();
                let modalities = Modality::ALL
                    .into_iter()
                    .filter_map(|modality| {
                        let covered: Vec<f64> = modality
                            .tasks()
                            .filter_map(|task| scores.tasks.get(&task).copied())
                            .collect();
                        (!covered.is_empty())
                            .then(|| (modality, covered.iter().sum::<f64>() / covered.len() as f64))
                    })
                    .collect();
                (*setting, SettingScores { tasks, modalities })
            })
            .collect();
        ChartScores { settings }
    }
}

/// Colours of the two settings (the site's accent colours; readable on white and on dark).
const WITH_TIES: RGBColor = RGBColor(37, 99, 235);
const WITHOUT_TIES: RGBColor = RGBColor(217, 119, 6);
const GRID: RGBColor = RGBColor(160, 160, 160);

fn colour(setting: Setting) -> RGBColor {
    match setting {
        Setting::WithTies => WITH_TIES,
        Setting::WithoutTies => WITHOUT_TIES,
    }
}

/// Why a chart could not be drawn (plotters reports backend errors as text).
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the {chart} chart: {message}")]
pub struct ChartError {
    chart: &'static str,
    message: String,
}

fn failed<E: std::fmt::Display>(chart: &'static str) -> impl Fn(E) -> ChartError {
    move |error| ChartError {
        chart,
        message: error.to_string(),
    }
}

/// The charts of a run's scorecard: task bars always, the radar when two or more modalities
/// are covered, reliability bars when the run judged swapped orders.
pub fn scorecard_charts(scorecard: &Scorecard) -> Result<Vec<Chart>, ChartError> {
    let mut charts = score_charts(&ChartScores::of_scorecard(scorecard))?;
    if let Some(chart) = reliability_bars(scorecard)? {
        charts.push(chart);
    }
    Ok(charts)
}

/// The task bars, and the radar when two or more modalities are covered.
pub fn score_charts(scores: &ChartScores) -> Result<Vec<Chart>, ChartError> {
    if scores.settings.is_empty() {
        return Ok(Vec::new());
    }
    let mut charts = vec![task_bars(scores)?];
    let covered: usize = scores
        .settings
        .values()
        .map(|setting| setting.modalities.len())
        .max()
        .unwrap_or(0);
    if covered >= 2 {
        charts.push(modality_radar(scores)?);
    }
    Ok(charts)
}

/// Grouped bars: per task, one bar per setting with its 95 % interval as a whisker.
fn task_bars(scorecard: &ChartScores) -> Result<Chart, ChartError> {
    const NAME: &str = "task accuracy";
    let tasks: Vec<Task> = Task::ALL
        .into_iter()
        .filter(|task| {
            scorecard
                .settings
                .values()
                .any(|setting| setting.tasks.contains_key(task))
        })
        .collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 340)).into_drawing_area();
        root.fill(&TRANSPARENT).map_err(failed(NAME))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            // Room for the legend above the plot.
            .margin_top(44)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..tasks.len().max(1) as f64, 0.0..100.0)
            .map_err(failed(NAME))?;
        draw_task_axes(&mut chart, &tasks, "accuracy (%)").map_err(failed(NAME))?;
        for (slot, setting) in Setting::ALL.into_iter().enumerate() {
            let Some(scores) = scorecard.settings.get(&setting) else {
                continue;
            };
            let bars = tasks.iter().enumerate().filter_map(|(index, task)| {
                let (accuracy, interval) = scores.tasks.get(task)?;
                let left = index as f64 + 0.12 + slot as f64 * 0.38;
                Some((left, accuracy * 100.0, *interval))
            });
            for (left, height, interval) in bars {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(left, 0.0), (left + 0.36, height)],
                        colour(setting).filled(),
                    )))
                    .map_err(failed(NAME))?;
                let Some([low, high]) = interval else {
                    continue;
                };
                let middle = left + 0.18;
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(middle, low * 100.0), (middle, high * 100.0)],
                        BLACK.stroke_width(2),
                    )))
                    .map_err(failed(NAME))?;
            }
        }
        root.present().map_err(failed(NAME))?;
    }
    Ok(Chart {
        title: "Accuracy per task".to_owned(),
        description: describe(scorecard, |setting| {
            Task::ALL
                .into_iter()
                .filter_map(|task| {
                    let (accuracy, _) = setting.tasks.get(&task)?;
                    Some(format!("{} {:.1} %", task.short_name(), accuracy * 100.0))
                })
                .collect()
        }),
        svg: with_legend(svg, scorecard, 560),
    })
}

/// The grid and axes of a chart with one slot per task on x, labelled with the tasks' short
/// names at the slots' middles.
fn draw_task_axes(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    tasks: &[Task],
    y_description: &str,
) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(GRID.mix(0.2))
        .bold_line_style(GRID.mix(0.4))
        .axis_style(GRID)
        .label_style(("sans-serif", 13).into_font().color(&GRID))
        .x_labels(tasks.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let index = x.floor() as usize;
            if (x - index as f64 - 0.5).abs() < 0.01 {
                tasks
                    .get(index)
                    .map(|task| task.short_name().to_owned())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .y_desc(y_description)
        .draw()
}

/// A radar over the five modalities, one polygon per setting through the modalities the model
/// covers only: an uncovered modality has no score, so it is labelled "not covered" and skipped,
/// never drawn as 0 %.
fn modality_radar(scorecard: &ChartScores) -> Result<Chart, ChartError> {
    const NAME: &str = "modality radar";
    let size = 340;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size, size)).into_drawing_area();
        root.fill(&TRANSPARENT).map_err(failed(NAME))?;
        let centre = (size as f64 / 2.0, size as f64 / 2.0 + 6.0);
        let radius = size as f64 / 2.0 - 52.0;
        let point = |axis: usize, fraction: f64| {
            let angle = -std::f64::consts::FRAC_PI_2
                + axis as f64 * std::f64::consts::TAU / Modality::ALL.len() as f64;
            (
                (centre.0 + radius * fraction * angle.cos()).round() as i32,
                (centre.1 + radius * fraction * angle.sin()).round() as i32,
            )
        };
        draw_radar_grid(&root, point)?;
        for setting in Setting::ALL {
            let Some(scores) = scorecard.settings.get(&setting) else {
                continue;
            };
            let mut outline: Vec<(i32, i32)> = Modality::ALL
                .into_iter()
                .enumerate()
                .filter_map(|(axis, modality)| {
                    let accuracy = scores.modalities.get(&modality)?;
                    Some(point(axis, *accuracy))
                })
                .collect();
            root.draw(&Polygon::new(outline.clone(), colour(setting).mix(0.2)))
                .map_err(failed(NAME))?;
            for vertex in &outline {
                root.draw(&Circle::new(*vertex, 3, colour(setting).filled()))
                    .map_err(failed(NAME))?;
            }
            if let Some(first) = outline.first().copied() {
                outline.push(first);
            }
            root.draw(&PathElement::new(outline, colour(setting).stroke_width(2)))
                .map_err(failed(NAME))?;
        }
        for (axis, modality) in Modality::ALL.into_iter().enumerate() {
            let covered = scorecard
                .settings
                .values()
                .any(|scores| scores.modalities.contains_key(&modality));
            let label = if covered {
                modality.label().to_owned()
            } else {
                format!("{} (not covered)", modality.label())
            };
            let (x, y) = point(axis, 1.18);
            let style = ("sans-serif", 13)
                .into_font()
                .color(&GRID)
                .pos(Pos::new(HPos::Center, VPos::Center));
            root.draw(&Text::new(label, (x, y), style))
                .map_err(failed(NAME))?;
        }
        root.present().map_err(failed(NAME))?;
    }
    Ok(Chart {
        title: "Accuracy per modality".to_owned(),
        description: describe(scorecard, |setting| {
            Modality::ALL
                .into_iter()
                .map(|modality| match setting.modalities.get(&modality) {
                    Some(accuracy) => format!("{} {:.1} %", modality.label(), accuracy * 100.0),
                    None => format!("{} not covered", modality.label()),
                })
                .collect()
        }),
        svg: with_legend(svg, scorecard, 8),
    })
}

fn draw_radar_grid(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    point: impl Fn(usize, f64) -> (i32, i32),
) -> Result<(), ChartError> {
    const NAME: &str = "modality radar";
    for ring in [0.25, 0.5, 0.75, 1.0] {
        let mut outline: Vec<(i32, i32)> = (0..Modality::ALL.len())
            .map(|axis| point(axis, ring))
            .collect();
        outline.push(outline[0]);
        root.draw(&PathElement::new(outline, GRID.mix(0.4)))
            .map_err(failed(NAME))?;
    }
    for axis in 0..Modality::ALL.len() {
        root.draw(&PathElement::new(
            vec![point(axis, 0.0), point(axis, 1.0)],
            GRID.mix(0.4),
        ))
        .map_err(failed(NAME))?;
    }
    Ok(())
}

/// Swap consistency and position bias per task, for runs that judged both orders.
fn reliability_bars(scorecard: &Scorecard) -> Result<Option<Chart>, ChartError> {
    const NAME: &str = "reliability";
    let Some(scores) = scorecard
        .settings
        .get(&Setting::WithoutTies)
        .or_else(|| scorecard.settings.get(&Setting::WithTies))
    else {
        return Ok(None);
    };
    let measured: BTreeMap<Task, (f64, f64)> = scores
        .tasks
        .iter()
        .filter_map(|(task, score)| {
            let reliability = score.reliability.as_ref()?;
            Some((
                *task,
                (reliability.swap_consistency?, reliability.position_bias),
            ))
        })
        .collect();
    if measured.is_empty() {
        return Ok(None);
    }
    let tasks: Vec<Task> = measured.keys().copied().collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 300)).into_drawing_area();
        root.fill(&TRANSPARENT).map_err(failed(NAME))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..tasks.len() as f64, -100.0..100.0)
            .map_err(failed(NAME))?;
        draw_task_axes(&mut chart, &tasks, "%").map_err(failed(NAME))?;
        for (index, (consistency, bias)) in measured.values().enumerate() {
            let left = index as f64 + 0.12;
            chart
                .draw_series([
                    Rectangle::new(
                        [(left, 0.0), (left + 0.36, consistency * 100.0)],
                        WITH_TIES.filled(),
                    ),
                    Rectangle::new(
                        [(left + 0.38, 0.0), (left + 0.74, bias * 100.0)],
                        WITHOUT_TIES.filled(),
                    ),
                ])
                .map_err(failed(NAME))?;
        }
        root.present().map_err(failed(NAME))?;
    }
    let description = measured
        .iter()
        .map(|(task, (consistency, bias))| {
            format!(
                "{}: consistency {:.1} %, bias {:+.1} %",
                task.short_name(),
                consistency * 100.0,
                bias * 100.0
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Some(Chart {
        title: "Order-swap reliability per task".to_owned(),
        description: format!(
            "Blue: swap consistency (same choice after exchanging A and B); orange: position \
             bias (share of first-position picks above one half). {description}"
        ),
        svg,
    }))
}

/// A text version of a chart, per setting.
fn describe(scorecard: &ChartScores, values: impl Fn(&SettingScores) -> Vec<String>) -> String {
    scorecard
        .settings
        .iter()
        .map(|(setting, scores)| format!("{}: {}", setting.label(), values(scores).join(", ")))
        .collect::<Vec<_>>()
        .join(". ")
}

/// Adds a legend of the settings drawn as an SVG group in the top-right corner.
fn with_legend(svg: String, scorecard: &ChartScores, left: u32) -> String {
    let items: String = scorecard
        .settings
        .keys()
        .enumerate()
        .map(|(index, setting)| {
            let RGBColor(red, green, blue) = colour(*setting);
            let y = 14 + index * 18;
            format!(
                r#"<rect x="0" y="{}" width="12" height="12" fill="rgb({red},{green},{blue})"/><text x="18" y="{}" font-size="13" fill="currentColor" font-family="sans-serif">{}</text>"#,
                y - 10,
                y,
                setting.label()
            )
        })
        .collect();
    match svg.rfind("</svg>") {
        Some(end) => format!(
            r#"{}<g transform="translate({left},4)">{items}</g></svg>{}"#,
            &svg[..end],
            &svg[end + "</svg>".len()..]
        ),
        None => svg,
    }
}
