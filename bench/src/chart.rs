//! The report's bar chart: one panel per workload of
//! [`compare::versus`] (coremesh, ractor and the raw-TCP baseline side by
//! side, each bar labelled with its value), written as SVG with plotters.
//!
//! It owns drawing only: the figures come from [`compare::versus`], so the
//! chart and the markdown table cannot disagree. It must never draw a bar
//! for a figure that was not measured (that slot stays empty and says
//! `n/a`), and never panic on a write failure ([`ChartError`]).

use std::path::Path;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::compare::Versus;

/// The bars of each panel, left to right, and their colours.
const BARS: [(&str, RGBColor); 3] = [
    ("coremesh", RGBColor(0x1f, 0x77, 0xb4)),
    ("ractor", RGBColor(0xff, 0x7f, 0x0e)),
    ("raw TCP", RGBColor(0x7f, 0x7f, 0x7f)),
];

const PANEL_WIDTH: u32 = 300;
const HEIGHT: u32 = 460;

/// Why the chart was not written.
#[derive(Debug, thiserror::Error)]
#[error("writing the chart {path}: {reason}")]
pub struct ChartError {
    path: String,
    reason: String,
}

/// Writes one panel per workload of `figures` to `path` (SVG), under `title`.
pub fn write_svg(path: &Path, title: &str, figures: &[Versus]) -> Result<(), ChartError> {
    let fail =
        |e: &dyn std::fmt::Display| ChartError { path: path.display().to_string(), reason: e.to_string() };
    let width = PANEL_WIDTH * u32::try_from(figures.len().max(1)).unwrap_or(1);
    let root = SVGBackend::new(path, (width, HEIGHT)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let root = root.titled(title, ("sans-serif", 20)).map_err(|e| fail(&e))?;
    let panels = root.split_evenly((1, figures.len().max(1)));
    for (panel, v) in panels.iter().zip(figures) {
        draw_panel(panel, v).map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;

fn draw_panel(panel: &Area<'_>, v: &Versus) -> Result<(), DrawingAreaErrorKind<std::io::Error>> {
    let values: [Option<f64>; 3] = [v.coremesh, v.ractor, v.raw].map(|x| x.map(|x| v.unit.scale(x)));
    let top = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(panel)
        .caption(v.workload, ("sans-serif", 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(52)
        .build_cartesian_2d((0u32..2u32).into_segmented(), 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(3)
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => BARS.get(*i as usize).map_or(String::new(), |b| b.0.to_string()),
            _ => String::new(),
        })
        .y_desc(v.unit.label())
        .draw()?;
    let bars = values.iter().enumerate().filter_map(|(i, value)| {
        let i = i as u32;
        value.map(|value| {
            let mut bar = Rectangle::new(
                [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), value)],
                BARS[i as usize].1.filled(),
            );
            bar.set_margin(0, 0, 10, 10);
            bar
        })
    });
    chart.draw_series(bars)?;
    let label =
        ("sans-serif", 13).into_font().into_text_style(panel).pos(Pos::new(HPos::Center, VPos::Bottom));
    let texts = values.iter().enumerate().map(|(i, value)| {
        let (text, y) = match value {
            Some(x) => (format_value(*x), *x),
            None => ("n/a".to_string(), 0.0),
        };
        Text::new(text, (SegmentValue::CenterOf(i as u32), y), label.clone())
    });
    chart.draw_series(texts)?;
    Ok(())
}

/// Three significant digits or so: 30.1, 3.46, 3543.
fn format_value(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}
