//! What the property tests share: [`Tally`], which counts the inputs a property checked
//! and the ones it discarded, and [`run`], which runs a property with it.
//!
//! A property that returns early on an input it cannot use counts that input as a pass;
//! if the generator produced mostly such inputs, the property would be green and prove
//! nothing. So every discard is counted with its reason, the counts are printed, and a run
//! that discarded more than [`MAX_DISCARD_RATIO`] of its inputs fails. The generators are
//! written to produce valid inputs by construction, so the ratio is expected to be 0.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Mutex;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseResult, TestRunner};

/// The most a property may discard, as a share of the inputs generated.
pub const MAX_DISCARD_RATIO: f64 = 0.10;

/// Inputs checked and inputs discarded (by reason) by one property.
#[derive(Default)]
pub struct Tally {
    counts: Mutex<(u64, BTreeMap<String, u64>)>,
}

impl Tally {
    /// Counts one input the property was checked on.
    pub fn checked(&self) {
        self.counts.lock().expect("tally").0 += 1;
    }

    /// Counts one input the property could not be checked on, and why.
    pub fn discarded(&self, why: impl Into<String>) {
        *self.counts.lock().expect("tally").1.entry(why.into()).or_default() += 1;
    }

    /// (checked, discarded, discards by reason).
    pub fn counts(&self) -> (u64, u64, BTreeMap<String, u64>) {
        let c = self.counts.lock().expect("tally");
        (c.0, c.1.values().sum(), c.1.clone())
    }

    /// Prints the counts (to the process's stderr, past the harness's capture) and fails if more than [`MAX_DISCARD_RATIO`] of the inputs were
    /// discarded, or if none was checked.
    pub fn check(&self, name: &str) {
        let (checked, discarded, why) = self.counts();
        let total = checked + discarded;
        let ratio = if total == 0 { 1.0 } else { discarded as f64 / total as f64 };
        // Written to the stream itself, not through `eprintln!`, which the test harness
        // captures: the counts show in every run, passing or not.
        let _ = writeln!(
            std::io::stderr(),
            "{name}: {checked} inputs checked, {discarded} discarded ({:.1}%, limit {:.0}%){}",
            ratio * 100.0,
            MAX_DISCARD_RATIO * 100.0,
            if why.is_empty() { String::new() } else { format!(": {why:?}") }
        );
        assert!(checked > 0, "{name}: no input was checked");
        assert!(
            ratio <= MAX_DISCARD_RATIO,
            "{name}: {discarded} of {total} inputs discarded ({why:?}): the property proves little; generate valid inputs"
        );
    }
}

/// Runs `property` on `cases` inputs from `strategy` (a failure is shrunk as `proptest!`
/// does and reported with its minimal input), then [`Tally::check`]s the counts.
pub fn run<S, F>(name: &str, cases: u32, strategy: S, property: F)
where
    S: Strategy,
    F: Fn(S::Value, &Tally) -> TestCaseResult,
{
    let tally = Tally::default();
    // No regression file: an integration test has no lib.rs for proptest to put one beside.
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, |input| property(input, &tally)) {
        panic!("{name}: {e}\n{runner}");
    }
    tally.check(name);
}
