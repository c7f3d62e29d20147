//! The printed table, the verdicts on targets, and number formatting.

use std::fmt;

use crate::load::Outcome;

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
    /// The verdict on the target, if the row has one.
    pub verdict: Option<Verdict>,
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
            verdict: None,
        }
    }

    /// Sets the baseline and ratio cells.
    pub fn against(mut self, baseline: impl Into<String>, ratio: impl Into<String>) -> Row {
        self.baseline = baseline.into();
        self.ratio = ratio.into();
        self
    }

    /// Sets the target cell to a target without a verdict (e.g. "none").
    pub fn target(mut self, target: impl Into<String>) -> Row {
        self.target = target.into();
        self
    }

    /// Sets the target cell to `target: VERDICT` and keeps the verdict for the summary.
    pub fn judged(mut self, target: impl fmt::Display, verdict: Verdict) -> Row {
        self.target = format!("{target}: {verdict}");
        self.verdict = Some(verdict);
        self
    }
}

/// The verdict on a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The figure met its target, and every measurement it comes from succeeded in full.
    Pass,
    /// The figure missed its target: a finding about Kizuna, not a failure of the run.
    Miss,
    /// A measurement the figure or its baseline comes from had errors (a partial batch
    /// failure included) or no success at all, or its answers were wrong: the figure
    /// means nothing, whatever its value. Fails the run.
    Invalid,
}

impl Verdict {
    /// [`Verdict::Invalid`] unless `valid` (e.g. the server's match count was right).
    pub fn requiring(self, valid: bool) -> Verdict {
        if valid {
            self
        } else {
            Verdict::Invalid
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::Invalid => "INVALID (errors)",
        })
    }
}

/// Judges a target: `met` is the figure compared with its target; `from` are the
/// measurements the figure and its baseline were computed from. Only a figure from
/// measurements that each had successes and no error can pass; a comparison that is not
/// a number (NaN) is false, so it misses.
pub fn judge(met: bool, from: &[&Outcome]) -> Verdict {
    if from.is_empty() || from.iter().any(|o| o.errors > 0 || o.ok == 0) {
        Verdict::Invalid
    } else if met {
        Verdict::Pass
    } else {
        Verdict::Miss
    }
}

/// How many rows have each verdict: (pass, miss, invalid).
pub fn tally(rows: &[Row]) -> (usize, usize, usize) {
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == Some(v)).count();
    (count(Verdict::Pass), count(Verdict::Miss), count(Verdict::Invalid))
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

    fn outcome(ok: u64, errors: u64) -> Outcome {
        Outcome { ok, errors, ..Outcome::default() }
    }

    #[test]
    fn only_a_clean_run_that_met_its_target_passes() {
        assert_eq!(judge(true, &[&outcome(10, 0)]), Verdict::Pass);
        assert_eq!(judge(false, &[&outcome(10, 0)]), Verdict::Miss);
        // All failed, partly failed, or failed in the baseline: invalid even when "met".
        assert_eq!(judge(true, &[&outcome(0, 10)]), Verdict::Invalid);
        assert_eq!(judge(true, &[&outcome(9, 1)]), Verdict::Invalid);
        assert_eq!(judge(true, &[&outcome(10, 0), &outcome(0, 3)]), Verdict::Invalid);
        // Nothing ran at all; nothing to judge from.
        assert_eq!(judge(true, &[&outcome(0, 0)]), Verdict::Invalid);
        assert_eq!(judge(true, &[]), Verdict::Invalid);
        // A wrong answer elsewhere (a count mismatch) invalidates a pass.
        assert_eq!(judge(true, &[&outcome(10, 0)]).requiring(false), Verdict::Invalid);
        assert_eq!(judge(false, &[&outcome(10, 0)]).requiring(true), Verdict::Miss);
    }

    #[test]
    fn verdicts_are_counted_from_the_rows() {
        let rows = vec![
            Row::new("a", "1").judged("≥ 1", Verdict::Pass),
            Row::new("b", "1").judged("≥ 2", Verdict::Miss),
            Row::new("c", "1").judged("≥ 1", judge(true, &[&outcome(0, 5)])),
            Row::new("d", "1").target("none"),
        ];
        assert_eq!(tally(&rows), (1, 1, 1));
        assert_eq!(rows[2].target, "≥ 1: INVALID (errors)");
    }
}
