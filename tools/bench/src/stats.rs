//! Small statistics helpers shared by the benchmark commands.

use std::time::Duration;

/// Latencies, sorted, with nearest-rank percentiles.
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut values: Vec<Duration>) -> Self {
        values.sort();
        Latencies(values)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The nearest-rank `p`th percentile (zero when empty).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    pub fn max(&self) -> Duration {
        self.0.last().copied().unwrap_or_default()
    }
}

/// The median of `values` (NaN when empty).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Prints a markdown table of rows `[figure, bamf, baseline, ratio]`.
pub fn print_table(rows: &[[String; 4]]) {
    println!();
    println!("| figure | bamf | baseline | ratio |");
    println!("|---|---|---|---|");
    for [figure, bamf, baseline, ratio] in rows {
        println!("| {figure} | {bamf} | {baseline} | {ratio} |");
    }
}
