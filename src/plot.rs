//! SVG plots: line charts of labelled (x, y) series and heat maps of 2-D densities.
//!
//! * [`line_chart`] draws every [`Series`] of a [`LineChart`] as one polyline (with
//!   optional markers) and a legend entry. A log axis plots log₁₀ of the values on
//!   a linear axis whose tick labels read 10^v, so that the tick positions are the
//!   same for every data range; points that are non-finite, or ≤ 0 on a log axis,
//!   are skipped (a series broken by a skipped point continues after it). A chart
//!   with nothing left to draw still gets its frame, title and legend.
//! * [`heat_map`] draws an N×N array on the box [−R, R]², row-major with the first
//!   coordinate slowest (`values[i·N + j]` is the cell with centre
//!   (−R + (i + ½)h, −R + (j + ½)h), h = 2R/N, the convention of
//!   [`crate::measure::grid`]), coloured by the viridis map from 0 to the largest
//!   value, with a colour bar and optional circles centred at 0 (for the initial
//!   Gaussian N(0, σ²I): radii σ and 2σ).
//!
//! The SVG text is built in memory and written atomically (temporary file, then
//! rename); a failure to write is [`Error::Output`] (exit code 1).

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use crate::error::{Error, Result};

/// One labelled curve.
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// Draw a dot at every point as well as the line (for sparse data such as
    /// convergence tables).
    pub markers: bool,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series { label: label.into(), points, markers: false }
    }
    pub fn with_markers(mut self) -> Self {
        self.markers = true;
        self
    }
}

/// A chart of several series.
#[derive(Clone, Debug, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

impl LineChart {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        LineChart { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), ..Default::default() }
    }
    pub fn log_x(mut self, on: bool) -> Self {
        self.log_x = on;
        self
    }
    pub fn log_y(mut self, on: bool) -> Self {
        self.log_y = on;
        self
    }
    pub fn series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
}

/// Circles centred at 0 drawn over a heat map.
#[derive(Clone, Debug)]
pub struct Ring {
    pub radius: f64,
    pub label: String,
}

/// A heat map of an N×N array on [−R, R]².
#[derive(Clone, Debug)]
pub struct HeatMap<'a> {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub n: usize,
    pub half_width: f64,
    pub values: &'a [f64],
    pub circles: Vec<Ring>,
}

const SIZE: (u32, u32) = (800, 560);
const HEAT_SIZE: (u32, u32) = (700, 600);

/// The colours of successive series (Tableau 10).
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn draw_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::output(path, format!("drawing the plot: {e}"))
}

/// Writes `text` to `path` through a temporary file.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("svg.tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::output(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::output(path, e))
}

/// The coordinate a value is drawn at, or None when it cannot be drawn.
fn axis_value(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() {
        None
    } else if log {
        if v > 0.0 { Some(v.log10()) } else { None }
    } else {
        Some(v)
    }
}

/// Tick label of an axis coordinate (on a log axis the coordinate is log₁₀ of the value).
fn tick_label(v: f64, log: bool) -> String {
    if log {
        let r = v.round();
        if (v - r).abs() < 1e-9 && r.abs() > 3.0 {
            format!("1e{}", r as i64)
        } else {
            number_label(10f64.powf(v))
        }
    } else {
        number_label(v)
    }
}

/// A short label: plain digits between 1e-3 and 1e4, else scientific.
fn number_label(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".into() } else { s.to_string() }
    }
}

/// 1, 2 or 5 times a power of ten, the smallest ≥ `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * p).find(|s| *s >= raw * (1.0 - 1e-12)).unwrap_or(10.0 * p)
}

/// Multiples of `step` in [lo, hi].
fn multiples(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let (a, b) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    (a..=b).map(|k| k as f64 * step).collect()
}

/// Tick positions (bold, light) of an axis over [lo, hi] in axis coordinates.
fn ticks(lo: f64, hi: f64, log: bool) -> (Vec<f64>, Vec<f64>) {
    let linear = |lo: f64, hi: f64| {
        let step = nice_step((hi - lo) / 6.0);
        (multiples(lo, hi, step), multiples(lo, hi, step / 5.0))
    };
    if !log {
        return linear(lo, hi);
    }
    let span = hi - lo;
    let decades = |every: i64| -> Vec<f64> {
        (lo.ceil() as i64..=hi.floor() as i64).filter(|k| k.rem_euclid(every) == 0).map(|k| k as f64).collect()
    };
    let mantissas = |ms: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        for k in (lo.floor() as i64)..=(hi.ceil() as i64) {
            for m in ms {
                let v = m.log10() + k as f64;
                if v >= lo - 1e-12 && v <= hi + 1e-12 {
                    out.push(v);
                }
            }
        }
        out
    };
    let all: Vec<f64> = (1..10).map(|m| m as f64).collect();
    let (bold, light) = if span > 6.0 {
        let every = (span / 8.0).ceil() as i64;
        (decades(every), decades(1))
    } else if span > 2.5 {
        (decades(1), mantissas(&all))
    } else if span > 0.8 {
        (mantissas(&[1.0, 2.0, 5.0]), mantissas(&all))
    } else {
        (mantissas(&all), Vec::new())
    };
    if bold.len() >= 3 {
        return (bold, light);
    }
    // A narrow range: evenly spaced values, placed at their logarithms.
    let (b, l) = linear(10f64.powf(lo), 10f64.powf(hi));
    let to_log = |v: Vec<f64>| v.into_iter().filter(|x| *x > 0.0).map(f64::log10).collect();
    (to_log(b), to_log(l))
}

/// Range covering `lo..hi` with a margin; a single value gets a unit-wide range.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite()) {
        return (0.0, 1.0);
    }
    if hi - lo <= 1e-12 * lo.abs().max(hi.abs()).max(1e-300) {
        return (lo - 0.5, hi + 0.5);
    }
    let m = 0.04 * (hi - lo);
    (lo - m, hi + m)
}

/// The drawable pieces of a series: maximal runs of points that can be drawn.
fn segments(points: &[(f64, f64)], log_x: bool, log_y: bool) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for &(x, y) in points {
        match (axis_value(x, log_x), axis_value(y, log_y)) {
            (Some(a), Some(b)) => out.last_mut().expect("non-empty").push((a, b)),
            _ => {
                if !out.last().expect("non-empty").is_empty() {
                    out.push(Vec::new());
                }
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// A linear axis over [lo, hi] with tick positions chosen here (bold: labelled).
struct Axis {
    lo: f64,
    hi: f64,
    bold: Vec<f64>,
    light: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let r = (v - self.lo) / (self.hi - self.lo);
        limit.0 + (r * (limit.1 - limit.0) as f64).round() as i32
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() { self.light.clone() } else { self.bold.clone() }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

fn with_ticks(lo: f64, hi: f64, log: bool) -> Axis {
    let (bold, light) = ticks(lo, hi, log);
    Axis { lo, hi, bold, light }
}

/// Renders a line chart to SVG text.
pub fn line_chart_svg(chart: &LineChart) -> std::result::Result<String, String> {
    let segs: Vec<Vec<Vec<(f64, f64)>>> =
        chart.series.iter().map(|s| segments(&s.points, chart.log_x, chart.log_y)).collect();
    let all = segs.iter().flatten().flatten();
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let (x0, x1) = padded(x0, x1);
    let (y0, y1) = padded(y0, y1);
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(with_ticks(x0, x1, chart.log_x), with_ticks(y0, y1, chart.log_y))
            .map_err(|e| e.to_string())?;
        let (lx, ly) = (chart.log_x, chart.log_y);
        let xf = move |v: &f64| tick_label(*v, lx);
        let yf = move |v: &f64| tick_label(*v, ly);
        let x_desc = if lx { format!("{} (log scale)", chart.x_label) } else { chart.x_label.clone() };
        let y_desc = if ly { format!("{} (log scale)", chart.y_label) } else { chart.y_label.clone() };
        ctx.configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&xf)
            .y_label_formatter(&yf)
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| e.to_string())?;
        for (k, (series, pieces)) in chart.series.iter().zip(&segs).enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let style = ShapeStyle { color: colour.to_rgba(), filled: false, stroke_width: 2 };
            // The legend entry is attached to a series even when nothing is drawable,
            // so that every label appears.
            let first = pieces.first().cloned().unwrap_or_default();
            let anno = ctx.draw_series(LineSeries::new(first, style)).map_err(|e| e.to_string())?;
            anno.label(series.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            for piece in pieces.iter().skip(1) {
                ctx.draw_series(LineSeries::new(piece.clone(), style)).map_err(|e| e.to_string())?;
            }
            if series.markers {
                let dots = pieces.iter().flatten().map(|&p| Circle::new(p, 3, colour.filled()));
                ctx.draw_series(dots).map_err(|e| e.to_string())?;
            }
        }
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(text)
}

/// Writes a line chart to an SVG file.
pub fn line_chart(path: &Path, chart: &LineChart) -> Result<()> {
    let text = line_chart_svg(chart).map_err(|e| draw_err(path, e))?;
    write_atomic(path, &text)
}

/// Renders a heat map to SVG text.
pub fn heat_map_svg(map: &HeatMap) -> std::result::Result<String, String> {
    let n = map.n;
    if n == 0 || map.values.len() != n * n {
        return Err(format!("heat map needs {n}×{n} values, got {}", map.values.len()));
    }
    let r = map.half_width;
    let h = 2.0 * r / n as f64;
    let vmax = map.values.iter().filter(|v| v.is_finite()).fold(0.0f64, |a, &b| a.max(b));
    let scale = if vmax > 0.0 { vmax } else { 1.0 };
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, HEAT_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (main, bar) = root.split_horizontally(HEAT_SIZE.0 - 100);
        let mut ctx = ChartBuilder::on(&main)
            .caption(&map.title, ("sans-serif", 17))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(-r..r, -r..r)
            .map_err(|e| e.to_string())?;
        ctx.configure_mesh()
            .disable_mesh()
            .x_desc(map.x_label.as_str())
            .y_desc(map.y_label.as_str())
            .x_labels(7)
            .y_labels(7)
            .draw()
            .map_err(|e| e.to_string())?;
        let cells = (0..n * n).map(|c| {
            let (i, j) = (c / n, c % n);
            let (x, y) = (-r + i as f64 * h, -r + j as f64 * h);
            let v = map.values[c];
            let t = if v.is_finite() { (v / scale).clamp(0.0, 1.0) } else { 0.0 };
            Rectangle::new([(x, y), (x + h, y + h)], ViridisRGB::get_color(t).filled())
        });
        ctx.draw_series(cells).map_err(|e| e.to_string())?;
        for (k, c) in map.circles.iter().enumerate() {
            let colour = if k % 2 == 0 { WHITE } else { RGBColor(255, 140, 0) };
            let style = ShapeStyle { color: colour.to_rgba(), filled: false, stroke_width: 2 };
            let pts: Vec<(f64, f64)> = (0..=180)
                .map(|m| {
                    let a = m as f64 * std::f64::consts::TAU / 180.0;
                    (c.radius * a.cos(), c.radius * a.sin())
                })
                .filter(|(x, y)| x.abs() <= r && y.abs() <= r)
                .collect();
            ctx.draw_series(LineSeries::new(pts, style))
                .map_err(|e| e.to_string())?
                .label(c.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        if !map.circles.is_empty() {
            ctx.configure_series_labels()
                .background_style(RGBColor(60, 60, 60).mix(0.8))
                .label_font(("sans-serif", 13).into_font().color(&WHITE))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        colour_bar(&bar, scale)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(text)
}

fn colour_bar(area: &DrawingArea<SVGBackend, Shift>, vmax: f64) -> std::result::Result<(), String> {
    let mut ctx = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(55)
        .margin_right(10)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..1.0, 0.0..vmax)
        .map_err(|e| e.to_string())?;
    ctx.configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_labels(6)
        .y_label_style(("sans-serif", 13))
        .y_label_formatter(&|v| tick_label(*v, false))
        .draw()
        .map_err(|e| e.to_string())?;
    let steps = 64;
    let bands = (0..steps).map(|m| {
        let (a, b) = (m as f64 / steps as f64, (m + 1) as f64 / steps as f64);
        Rectangle::new([(0.0, a * vmax), (1.0, b * vmax)], ViridisRGB::get_color((a + b) / 2.0).filled())
    });
    ctx.draw_series(bands).map_err(|e| e.to_string())?;
    Ok(())
}

/// Writes a heat map to an SVG file.
pub fn heat_map(path: &Path, map: &HeatMap) -> Result<()> {
    let text = heat_map_svg(map).map_err(|e| draw_err(path, e))?;
    write_atomic(path, &text)
}

/// Marginal of a density on an N^k grid (row-major, coordinate 0 slowest) onto
/// its first two coordinates: Σ over the others, times h^(k−2) so that the result
/// is again a density (∫∫ marginal = ∫ density). For k = 2 it is the array itself.
pub fn marginal_first_two(values: &[f64], n: usize, k: usize, h: f64) -> Vec<f64> {
    assert!(k >= 2, "a 2-D marginal needs k ≥ 2");
    let rest = n.pow((k - 2) as u32);
    assert_eq!(values.len(), n * n * rest, "values do not fill an N^k grid");
    let w = h.powi((k - 2) as i32);
    values.chunks(rest).map(|c| c.iter().sum::<f64>() * w).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_axis_skips_non_positive_and_non_finite_points() {
        let pts = vec![(1.0, 1.0), (2.0, 0.0), (3.0, f64::NAN), (4.0, 1e-3), (5.0, 1e-4)];
        let s = segments(&pts, false, true);
        assert_eq!(s, vec![vec![(1.0, 0.0)], vec![(4.0, -3.0), (5.0, -4.0)]]);
        assert_eq!(segments(&[(0.0, 1.0), (1.0, 10.0)], true, true), vec![vec![(0.0, 1.0)]]);
    }

    #[test]
    fn tick_labels() {
        assert_eq!(tick_label(-3.0, true), "0.001");
        assert_eq!(tick_label(-5.0, true), "1e-5");
        assert_eq!(tick_label(2f64.log10(), true), "2");
        assert_eq!(tick_label(0.5, false), "0.5");
        assert_eq!(tick_label(2.0, false), "2");
        assert_eq!(tick_label(2e-5, false), "2e-5");
        assert_eq!(tick_label(1.5e-5, false), "1.5e-5");
    }

    #[test]
    fn log_ticks_are_round_values() {
        // 10 to 80: 1-2-5 mantissas.
        let (b, _) = ticks(1.0, 80f64.log10(), true);
        let vals: Vec<String> = b.iter().map(|v| tick_label(*v, true)).collect();
        assert_eq!(vals, ["10", "20", "50"]);
        // Eight decades: every decade.
        let (b, _) = ticks(-7.5, 0.2, true);
        assert_eq!(b, vec![-7.0, -6.0, -5.0, -4.0, -3.0, -2.0, -1.0, 0.0]);
        // A narrow range falls back to evenly spaced values.
        let (b, _) = ticks(0.5f64.log10(), 0.52f64.log10(), true);
        assert!(b.len() >= 3, "{b:?}");
        // Linear ticks at multiples of a 1-2-5 step.
        let (b, _) = ticks(-0.1, 10.3, false);
        assert_eq!(b, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
    }

    #[test]
    fn marginal_integrates_like_the_density() {
        let (n, h) = (3usize, 0.5);
        let vals: Vec<f64> = (0..n.pow(3)).map(|v| v as f64).collect();
        let m = marginal_first_two(&vals, n, 3, h);
        assert_eq!(m.len(), 9);
        assert_eq!(m[0], (0.0 + 1.0 + 2.0) * h);
        let total: f64 = vals.iter().sum::<f64>() * h.powi(3);
        assert!((m.iter().sum::<f64>() * h * h - total).abs() < 1e-12);
    }
}
