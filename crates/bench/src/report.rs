//! The printed table and number formatting.

/// One line of the table.
pub struct Row {
    /// What was measured.
    pub measurement: String,
    /// The figure.
    pub figure: String,
    /// The baseline it is compared with (same run).
    pub baseline: String,
    /// figure / baseline.
    pub ratio: String,
    /// The target, and whether it is met.
    pub target: String,
}

impl Row {
    /// A row; empty cells are shown as `—`.
    pub fn new(measurement: impl Into<String>, figure: impl Into<String>) -> Row {
        Row {
            measurement: measurement.into(),
            figure: figure.into(),
            baseline: String::new(),
            ratio: String::new(),
            target: String::new(),
        }
    }

    /// Sets the baseline and ratio cells.
    pub fn against(mut self, baseline: impl Into<String>, ratio: impl Into<String>) -> Row {
        self.baseline = baseline.into();
        self.ratio = ratio.into();
        self
    }

    /// Sets the target cell.
    pub fn target(mut self, target: impl Into<String>) -> Row {
        self.target = target.into();
        self
    }
}

/// Prints `rows` as a Markdown-style table, a separator line before each row whose
/// measurement starts with a section number (e.g. `2a`).
pub fn print_table(rows: &[Row]) {
    let header = ["measurement", "figure", "baseline (same run)", "ratio", "target"];
    let cells = |r: &Row| -> [String; 5] {
        // A `|` inside a cell would end it in Markdown.
        let dash = |s: &str| if s.is_empty() { "—".to_string() } else { s.replace('|', "\\|") };
        [r.measurement.replace('|', "\\|"), dash(&r.figure), dash(&r.baseline), dash(&r.ratio), dash(&r.target)]
    };
    let mut widths: [usize; 5] = header.map(|h| h.chars().count());
    for r in rows {
        for (w, c) in widths.iter_mut().zip(cells(r)) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [String; 5]| {
        let parts: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        println!("| {} |", parts.join(" | "));
    };
    line(header.map(String::from));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    println!("|-{}-|", rule.join("-|-"));
    for r in rows {
        line(cells(r));
    }
}

/// `1234567.8` → `1,234,568`.
pub fn int(x: f64) -> String {
    let n = x.round().max(0.0) as u64;
    let digits: Vec<char> = n.to_string().chars().collect();
    let groups: Vec<String> = digits.rchunks(3).rev().map(|g| g.iter().collect()).collect();
    groups.join(",")
}

/// A latency in ms with sensible precision.
pub fn ms(x: f64) -> String {
    if x < 1.0 {
        format!("{x:.3}")
    } else if x < 100.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.0}")
    }
}

/// `0.253` → `25.3%`.
pub fn pct(x: f64) -> String {
    if x < 0.01 {
        format!("{:.2}%", x * 100.0)
    } else {
        format!("{:.1}%", x * 100.0)
    }
}

/// `PASS` or `MISS`.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands() {
        assert_eq!(int(0.0), "0");
        assert_eq!(int(999.4), "999");
        assert_eq!(int(1000.0), "1,000");
        assert_eq!(int(1234567.8), "1,234,568");
    }
}
