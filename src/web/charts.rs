//! Charts drawn on the server as SVG geometry, so they work without JavaScript and
//! under the strict CSP: the board's calls per hour and sentiment mix, the reports'
//! columns (calls per day, per hour, ratings) and mix bars.

use crate::calls::board::{HourCount, SentimentCount};

/// Height of a bar chart's plot area, in SVG units.
pub const CHART_HEIGHT: u32 = 80;
/// Width of one bar's slot.
pub const BAR_SLOT: u32 = 12;

/// One bar, placed.
#[derive(Clone, Debug)]
pub struct Bar {
    /// Hour of the day (UTC).
    pub hour: u8,
    /// Calls started in that hour.
    pub count: usize,
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Height.
    pub height: u32,
}

/// One segment of a 100-unit-wide mix bar.
#[derive(Clone, Debug)]
pub struct Slice {
    /// positive, neutral or negative.
    pub sentiment: &'static str,
    /// Calls.
    pub count: usize,
    /// Left edge in percent.
    pub x: f64,
    /// Width in percent.
    pub width: f64,
}

/// Bars for hourly counts, scaled so the highest fills the plot (rounded up, so that
/// one call is never an invisible bar).
pub fn hourly_bars(counts: &[HourCount]) -> Vec<Bar> {
    let max = counts.iter().map(|c| c.count).max().unwrap_or(0) as u32;
    counts
        .iter()
        .map(|c| {
            let height = if max == 0 { 0 } else { (c.count as u32 * CHART_HEIGHT).div_ceil(max) };
            Bar { hour: c.hour, count: c.count, x: u32::from(c.hour) * BAR_SLOT + 2, y: CHART_HEIGHT - height, height }
        })
        .collect()
}

/// Segments of the mix bar, in order, each as wide as its share.
pub fn mix(counts: &[SentimentCount]) -> Vec<Slice> {
    let total = counts.iter().map(|c| c.count).sum::<usize>().max(1) as f64;
    let mut x = 0.0;
    counts
        .iter()
        .map(|c| {
            let width = c.count as f64 * 100.0 / total;
            let slice = Slice { sentiment: c.sentiment, count: c.count, x, width };
            x += width;
            slice
        })
        .collect()
}

/// One column of a chart with any number of columns (days of a report, scores).
#[derive(Clone, Debug)]
pub struct Column {
    /// What the column counts (a day, an hour, a score).
    pub label: String,
    /// The value.
    pub count: i64,
    /// Left edge.
    pub x: f64,
    /// Width.
    pub width: f64,
    /// Top edge.
    pub y: f64,
    /// Height.
    pub height: f64,
    /// Whether the axis shows this column's label.
    pub tick: bool,
}

/// Columns spread over a plot `plot_width` wide and [`CHART_HEIGHT`] high, the highest
/// filling it (any non-zero value at least one unit tall); every `tick_every`-th label
/// is shown on the axis.
pub fn columns(values: &[(String, i64)], plot_width: f64, tick_every: usize) -> Vec<Column> {
    let max = values.iter().map(|v| v.1).max().unwrap_or(0).max(0) as f64;
    let slot = plot_width / values.len().max(1) as f64;
    let full = f64::from(CHART_HEIGHT);
    values
        .iter()
        .enumerate()
        .map(|(i, (label, count))| {
            let height = if max == 0.0 || *count <= 0 { 0.0 } else { (*count as f64 * full / max).max(1.0) };
            Column {
                label: label.clone(),
                count: *count,
                x: i as f64 * slot + slot * 0.15,
                width: slot * 0.7,
                y: full - height,
                height,
                tick: i % tick_every.max(1) == 0,
            }
        })
        .collect()
}

/// One segment of a 100-unit-wide mix bar of any values.
#[derive(Clone, Debug)]
pub struct Segment {
    /// The value's id (used for its colour class).
    pub key: String,
    /// Its label.
    pub label: String,
    /// Count.
    pub count: i64,
    /// Left edge in percent.
    pub x: f64,
    /// Width in percent.
    pub width: f64,
}

/// Segments of a mix bar, in order, each as wide as its share.
pub fn segments(values: Vec<(String, String, i64)>) -> Vec<Segment> {
    let total = values.iter().map(|v| v.2.max(0)).sum::<i64>().max(1) as f64;
    let mut x = 0.0;
    values
        .into_iter()
        .map(|(key, label, count)| {
            let width = count.max(0) as f64 * 100.0 / total;
            let segment = Segment { key, label, count, x, width };
            x += width;
            segment
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_hour_fills_the_plot_and_one_call_stays_visible() {
        let counts =
            [HourCount { hour: 0, count: 0 }, HourCount { hour: 1, count: 1 }, HourCount { hour: 2, count: 9 }];
        let bars = hourly_bars(&counts);
        assert_eq!(bars[2].height, CHART_HEIGHT);
        assert_eq!(bars[2].y, 0);
        assert!(bars[1].height >= 1);
        assert_eq!(bars[0].height, 0);
        assert_eq!(bars[1].x, BAR_SLOT + 2);
    }

    #[test]
    fn mix_segments_follow_each_other_and_fill_the_bar() {
        let counts = [
            SentimentCount { sentiment: "positive", count: 1 },
            SentimentCount { sentiment: "neutral", count: 1 },
            SentimentCount { sentiment: "negative", count: 2 },
        ];
        let slices = mix(&counts);
        assert_eq!((slices[1].x, slices[2].x, slices[2].width), (25.0, 50.0, 50.0));
    }

    #[test]
    fn report_columns_share_the_width_and_the_highest_fills_the_plot() {
        let values = [("a".to_owned(), 0), ("b".to_owned(), 1), ("c".to_owned(), 200), ("d".to_owned(), 100)];
        let cols = columns(&values, 400.0, 2);
        assert_eq!(cols[2].height, f64::from(CHART_HEIGHT));
        assert_eq!(cols[0].height, 0.0);
        assert!(cols[1].height >= 1.0, "one call stays visible");
        assert_eq!(cols[3].x, 300.0 + 15.0);
        assert!(cols[0].tick && !cols[1].tick && cols[2].tick);
        let mix = segments(vec![("x".into(), "X".into(), 3), ("y".into(), "Y".into(), 1)]);
        assert_eq!((mix[0].width, mix[1].x), (75.0, 75.0));
    }
}
