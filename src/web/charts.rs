//! Charts drawn on the server as SVG geometry, so they work without JavaScript and
//! under the strict CSP: the board's calls per hour and sentiment mix.

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
}
