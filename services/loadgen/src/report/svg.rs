//! Line charts as inline SVG, drawn from plain numbers: axes from zero to a rounded maximum with
//! labelled ticks, one `<path>` per series (gaps where a value is missing) and a legend. Pure;
//! every point lands inside the plot area, whatever the values.

use std::fmt::Write as _;

use super::markup::escape;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 44.0;

/// Colours that stay apart for the usual handful of series; the total is drawn in ink.
const PALETTE: [&str; 6] = [
    "#1f77b4", "#e8710a", "#2ca02c", "#9334e6", "#d62728", "#0b8a8f",
];
const TOTAL_COLOUR: &str = "#202124";

#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub name: String,
    /// `(x, y)`; a `None` y breaks the line there.
    pub points: Vec<(f64, Option<f64>)>,
    /// Which palette colour: a caller gives the same thing the same colour in every chart.
    pub colour: usize,
    /// Drawn thicker and dark, for a total over the other lines.
    pub is_total: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Names the chart for the page (`data-chart`) and for screen readers.
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// The x axis runs from 0 to this (the run's length).
    pub x_max: f64,
    pub lines: Vec<Line>,
}

/// Where a value falls: the axis from 0 to a round maximum, and its tick step.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    max: f64,
    step: f64,
}

impl Axis {
    /// Ticks of 1, 2 or 5 times a power of ten, about `ticks` of them, covering `0..=value`.
    fn covering(value: f64, ticks: f64) -> Axis {
        let value = if value.is_finite() && value > 0.0 {
            value
        } else {
            1.0
        };
        let raw = value / ticks;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * magnitude)
            .find(|s| *s >= raw)
            .unwrap_or(10.0 * magnitude);
        Axis {
            // The tolerance keeps 0.8 / 0.2 = 4.000000000000001 from adding a whole step.
            max: ((value / step) - 1e-9).ceil() * step,
            step,
        }
    }

    fn ticks(self) -> impl Iterator<Item = f64> {
        let count = (self.max / self.step).round() as u64;
        (0..=count).map(move |i| i as f64 * self.step)
    }

    /// A tick's label with as many decimals as the step needs (0.25 -> 2, 5 -> 0).
    fn label(self, value: f64) -> String {
        let decimals = (-self.step.log10().floor()).max(0.0) as usize;
        format!("{value:.decimals$}")
    }
}

impl LineChart {
    pub fn render(&self) -> String {
        let x_axis = Axis::covering(self.x_max, 8.0);
        let y_max = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().filter_map(|(_, y)| *y))
            .filter(|y| y.is_finite())
            .fold(0.0, f64::max);
        // A little headroom keeps a line at the maximum off the frame's top edge.
        let y_axis = Axis::covering(y_max * 1.04, 5.0);
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let x_at = |x: f64| LEFT + (x / x_axis.max).clamp(0.0, 1.0) * plot_w;
        let y_at = |y: f64| TOP + plot_h - (y / y_axis.max).clamp(0.0, 1.0) * plot_h;

        let mut svg = String::new();
        let _ = write!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}" data-chart="{id}" class="chart"><title>{title}</title>"#,
            title = escape(&self.title),
            id = escape(&self.id),
        );
        for y in y_axis.ticks() {
            let py = y_at(y);
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" y1="{py:.1}" x2="{x2}" y2="{py:.1}" stroke="#e0e0e0"/><text x="{tx}" y="{ty:.1}" text-anchor="end" class="tick">{label}</text>"##,
                x2 = WIDTH - RIGHT,
                tx = LEFT - 6.0,
                ty = py + 4.0,
                label = y_axis.label(y),
            );
        }
        for x in x_axis.ticks() {
            let px = x_at(x);
            let _ = write!(
                svg,
                r##"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{bottom}" stroke="#f0f0f0"/><text x="{px:.1}" y="{ty}" text-anchor="middle" class="tick">{label}s</text>"##,
                top = TOP,
                bottom = TOP + plot_h,
                ty = TOP + plot_h + 16.0,
                label = x_axis.label(x),
            );
        }
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{y0}" x2="{x2}" y2="{y0}" stroke="#5f6368"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{y0}" stroke="#5f6368"/>"##,
            y0 = TOP + plot_h,
            x2 = WIDTH - RIGHT,
        );
        let _ = write!(
            svg,
            r#"<text x="{cx}" y="{by}" text-anchor="middle" class="axis-label">{x_label}</text><text transform="translate(14 {cy}) rotate(-90)" text-anchor="middle" class="axis-label">{y_label}</text>"#,
            cx = LEFT + plot_w / 2.0,
            by = HEIGHT - 6.0,
            cy = TOP + plot_h / 2.0,
            x_label = escape(&self.x_label),
            y_label = escape(&self.y_label),
        );

        let mut legend_x = LEFT;
        for line in &self.lines {
            let colour = if line.is_total {
                TOTAL_COLOUR
            } else {
                PALETTE[line.colour % PALETTE.len()]
            };
            let width = if line.is_total { 2.5 } else { 1.5 };
            let (d, lone) = path(&line.points, x_at, y_at);
            let _ = write!(
                svg,
                r#"<path class="series" data-series="{name}" d="{d}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"/>"#,
                name = escape(&line.name),
            );
            // A line's width is too thin to see one point with no neighbour: mark it.
            for (x, y) in lone {
                let _ = write!(
                    svg,
                    r#"<circle class="dot" cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"/>"#
                );
            }
            let _ = write!(
                svg,
                r#"<line x1="{legend_x}" y1="14" x2="{x2}" y2="14" stroke="{colour}" stroke-width="{lw}"/><text x="{tx}" y="18" class="legend">{name}</text>"#,
                x2 = legend_x + 18.0,
                lw = width + 1.0,
                tx = legend_x + 24.0,
                name = escape(&line.name),
            );
            // The page's font is about 7 px per character at the legend's size.
            legend_x += 24.0 + 7.0 * line.name.chars().count() as f64 + 20.0;
        }
        svg.push_str("</svg>");
        svg
    }
}

/// `M x y L x y ...`, starting anew after every missing value, and the points that have no
/// neighbour. A lone point is repeated so that its round cap draws a dot; every coordinate is
/// absolute, inside the plot.
fn path(
    points: &[(f64, Option<f64>)],
    x_at: impl Fn(f64) -> f64,
    y_at: impl Fn(f64) -> f64,
) -> (String, Vec<(f64, f64)>) {
    let mut d = String::new();
    let mut lone = Vec::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let mut flush = |run: &mut Vec<(f64, f64)>, d: &mut String| {
        if run.len() == 1 {
            run.push(run[0]);
            lone.push(run[0]);
        }
        for (i, (x, y)) in run.drain(..).enumerate() {
            if !d.is_empty() {
                d.push(' ');
            }
            let command = if i == 0 { 'M' } else { 'L' };
            let _ = write!(d, "{command}{x:.1} {y:.1}");
        }
    };
    for (x, y) in points {
        match y.filter(|y| y.is_finite() && x.is_finite()) {
            None => flush(&mut run, &mut d),
            Some(y) => run.push((x_at(*x), y_at(y))),
        }
    }
    flush(&mut run, &mut d);
    (d, lone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(lines: Vec<Line>, x_max: f64) -> LineChart {
        LineChart {
            id: "throughput".into(),
            title: "Throughput".into(),
            x_label: "seconds since start".into(),
            y_label: "ops/s".into(),
            x_max,
            lines,
        }
    }

    fn line(name: &str, ys: &[Option<f64>]) -> Line {
        Line {
            name: name.into(),
            points: ys
                .iter()
                .enumerate()
                .map(|(i, y)| (i as f64 + 0.5, *y))
                .collect(),
            colour: 0,
            is_total: false,
        }
    }

    /// Every coordinate pair of every series path.
    fn series_points(svg: &str) -> Vec<(f64, f64)> {
        svg.split(r#"class="series""#)
            .skip(1)
            .flat_map(|part| {
                let d = part
                    .split(r#" d=""#)
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap();
                let numbers: Vec<f64> = d
                    .split(|c: char| c.is_ascii_alphabetic() || c == ' ')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().unwrap())
                    .collect();
                numbers.chunks(2).map(|p| (p[0], p[1])).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn axes_round_up_to_one_two_or_five_times_a_power_of_ten() {
        let close = |a: Axis, max: f64, step: f64| {
            assert!(
                (a.max - max).abs() < 1e-9 && (a.step - step).abs() < 1e-9,
                "{a:?}"
            );
        };
        close(Axis::covering(47.0, 5.0), 50.0, 10.0);
        close(Axis::covering(0.8, 5.0), 0.8, 0.2);
        close(Axis::covering(15.2, 8.0), 16.0, 2.0);
        close(Axis::covering(0.0, 5.0), 1.0, 0.2);
        assert_eq!(Axis::covering(f64::NAN, 5.0).max, 1.0);
        let axis = Axis::covering(0.8, 5.0);
        assert_eq!(axis.label(0.4), "0.4");
        assert_eq!(Axis::covering(470.0, 5.0).label(300.0), "300");
    }

    #[test]
    fn every_point_lies_inside_the_plot_area_of_the_view_box() {
        let svg = chart(
            vec![
                line("browse", &[Some(3.0), Some(47.0), None, Some(12.5)]),
                line("checkout", &[Some(0.0), Some(1.0), Some(2.0), Some(0.5)]),
            ],
            4.0,
        )
        .render();
        assert!(svg.contains(r#"viewBox="0 0 960 260""#), "{svg}");
        let points = series_points(&svg);
        // browse: two joined points, then a lone one drawn twice; checkout: four.
        assert_eq!(points.len(), 2 + 2 + 4);
        for (x, y) in &points {
            assert!((LEFT..=WIDTH - RIGHT).contains(x), "x {x} outside the plot");
            assert!(
                (TOP..=HEIGHT - BOTTOM).contains(y),
                "y {y} outside the plot"
            );
        }
        // 47 is the highest value, on an axis to 50: 94% of the plot's height above the floor.
        let plot_h = HEIGHT - TOP - BOTTOM;
        let peak = points.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert!((peak - (TOP + plot_h * 0.06)).abs() < 0.1, "{peak}");
        // The first point is at 0.5 s of an axis running to 4 s.
        let first_x = points.first().unwrap().0;
        assert!(
            (first_x - (LEFT + (WIDTH - LEFT - RIGHT) / 8.0)).abs() < 0.1,
            "{first_x}"
        );
    }

    #[test]
    fn axes_are_labelled_with_their_ticks_and_names() {
        let svg = chart(vec![line("browse", &[Some(3.0), Some(47.0)])], 15.2).render();
        for tick in ["0", "10", "20", "30", "40", "50"] {
            assert!(
                svg.contains(&format!(r#"class="tick">{tick}</text>"#)),
                "y tick {tick}: {svg}"
            );
        }
        for tick in ["0s", "2s", "8s", "16s"] {
            assert!(
                svg.contains(&format!(r#"class="tick">{tick}</text>"#)),
                "x tick {tick}: {svg}"
            );
        }
        assert!(svg.contains(">seconds since start</text>"));
        assert!(svg.contains(">ops/s</text>"));
        assert!(svg.contains(r#"class="legend">browse</text>"#));
    }

    #[test]
    fn values_above_the_axis_are_clamped_and_missing_ones_break_the_line() {
        let mut wild = line(
            "p99",
            &[
                Some(f64::INFINITY),
                None,
                Some(5.0),
                None,
                Some(2.0),
                Some(1.0),
            ],
        );
        wild.points.push((1e9, Some(1.0)));
        let svg = chart(vec![wild], 6.0).render();
        let d = svg
            .split(r#" d=""#)
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        let lone = d.split(" M").next().unwrap();
        let (first, second) = lone.split_once(" L").unwrap();
        assert_eq!(
            first.trim_start_matches('M'),
            second,
            "a lone point is drawn as a dot: {d}"
        );
        for (x, y) in series_points(&svg) {
            assert!((LEFT..=WIDTH - RIGHT).contains(&x), "{x}");
            assert!((TOP..=HEIGHT - BOTTOM).contains(&y), "{y}");
        }
    }

    #[test]
    fn names_and_titles_are_escaped() {
        let svg = LineChart {
            id: "a\"b".into(),
            title: "<b>".into(),
            x_label: "x & y".into(),
            y_label: "y".into(),
            x_max: 1.0,
            lines: vec![line("<script>", &[Some(1.0)])],
        }
        .render();
        assert!(!svg.contains("<script>") && !svg.contains("<b>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;") && svg.contains("x &amp; y"));
        assert!(svg.contains(r#"data-chart="a&quot;b""#));
    }

    #[test]
    fn a_chart_without_lines_still_has_its_axes() {
        let svg = chart(Vec::new(), 0.0).render();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains(r#"class="series""#));
        assert!(svg.contains(r#"class="tick">1.0</text>"#), "{svg}");
    }
}
