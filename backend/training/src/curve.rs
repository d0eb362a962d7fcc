//! The training curve as an SVG file, drawn with plotters' SVG backend: the loss per step and on
//! validation (top), and the accuracy per step and on validation (bottom).
//!
//! The SVG backend writes text as `<text>` elements and lays it out with plotters' built-in
//! estimate, so no font files or fontconfig are needed at build or run time.

use std::path::Path;

use plotters::prelude::*;

use crate::error::TrainingError;
use crate::record::TrainingLog;

/// Size of the image in pixels.
const SIZE: (u32, u32) = (900, 640);

/// Writes the curve of `log` to `file`.
pub fn write_curve(file: &Path, log: &TrainingLog, title: &str) -> Result<(), TrainingError> {
    let svg = render_curve(log, title)?;
    std::fs::write(file, svg).map_err(TrainingError::io(file))
}

/// The curve of `log` as SVG text.
pub fn render_curve(log: &TrainingLog, title: &str) -> Result<String, TrainingError> {
    let mut svg = String::new();
    draw(&mut svg, log, title).map_err(|message| TrainingError::Curve { message })?;
    Ok(svg)
}

fn draw(svg: &mut String, log: &TrainingLog, title: &str) -> Result<(), String> {
    let root = SVGBackend::with_string(svg, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|error| error.to_string())?;
    let root = root
        .titled(title, ("sans-serif", 20))
        .map_err(|error| error.to_string())?;
    let (top, bottom) = root.split_vertically(SIZE.1 / 2 - 20);
    let last_step = log.steps.last().map_or(1, |step| step.step).max(1) as f64;

    let training_loss: Vec<(f64, f64)> = log
        .steps
        .iter()
        .map(|step| (step.step as f64, step.loss))
        .collect();
    let validation_loss: Vec<(f64, f64)> = log
        .validations
        .iter()
        .map(|point| (point.step as f64, point.loss))
        .collect();
    let highest_loss = training_loss
        .iter()
        .chain(&validation_loss)
        .map(|(_, loss)| *loss)
        .filter(|loss| loss.is_finite())
        .fold(0.1f64, f64::max);
    draw_panel(
        &top,
        Panel {
            steps: last_step,
            highest: highest_loss * 1.05,
            x_description: None,
            y_description: "Bradley-Terry loss",
            training: training_loss,
            training_style: BLUE.into(),
            validation: validation_loss,
            labels: SeriesLabelPosition::MiddleRight,
        },
    )?;
    draw_panel(
        &bottom,
        Panel {
            steps: last_step,
            highest: 1.0,
            x_description: Some("optimizer step"),
            y_description: "accuracy",
            training: log
                .steps
                .iter()
                .map(|step| (step.step as f64, step.accuracy))
                .collect(),
            training_style: BLUE.mix(0.5).into(),
            validation: log
                .validations
                .iter()
                .map(|point| (point.step as f64, point.accuracy))
                .collect(),
            labels: SeriesLabelPosition::LowerRight,
        },
    )?;
    root.present().map_err(|error| error.to_string())?;
    Ok(())
}

/// One half of the curve: a per-step training series and the validation points over it.
struct Panel {
    steps: f64,
    highest: f64,
    x_description: Option<&'static str>,
    y_description: &'static str,
    training: Vec<(f64, f64)>,
    training_style: ShapeStyle,
    validation: Vec<(f64, f64)>,
    labels: SeriesLabelPosition,
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    panel: Panel,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let failed = |error: &dyn std::fmt::Display| error.to_string();
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0f64..panel.steps, 0f64..panel.highest)
        .map_err(|error| failed(&error))?;
    let mut mesh = chart.configure_mesh();
    if let Some(description) = panel.x_description {
        mesh.x_desc(description);
    }
    mesh.y_desc(panel.y_description)
        .draw()
        .map_err(|error| failed(&error))?;
    chart
        .draw_series(LineSeries::new(panel.training, panel.training_style))
        .map_err(|error| failed(&error))?
        .label("training (per step)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
    chart
        .draw_series(LineSeries::new(
            panel.validation.clone(),
            RED.stroke_width(2),
        ))
        .map_err(|error| failed(&error))?
        .label("validation")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED));
    chart
        .draw_series(
            panel
                .validation
                .iter()
                .map(|point| Circle::new(*point, 3, RED.filled())),
        )
        .map_err(|error| failed(&error))?;
    chart
        .configure_series_labels()
        .position(panel.labels)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|error| failed(&error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{StepLog, ValidationLog};

    #[test]
    fn the_curve_is_an_svg_with_both_series() {
        let log = TrainingLog {
            steps: (1..=10)
                .map(|step| StepLog {
                    step,
                    learning_rate: 1e-3,
                    loss: 1.0 / step as f64,
                    accuracy: step as f64 / 10.0,
                    gradient_norm: 1.0,
                })
                .collect(),
            validations: vec![ValidationLog {
                step: 10,
                loss: 0.2,
                accuracy: 0.9,
                benchmark: Vec::new(),
            }],
        };
        let svg = render_curve(&log, "test run").expect("curve");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("test run"));
        assert!(svg.contains("validation"));
        assert!(svg.matches("<polyline").count() >= 4, "{svg}");
    }
}
