//! The result table: one row per rule, `pass`, `FAIL` or `not checked`.

use std::collections::BTreeMap;
use std::fmt;

use crate::rules::Rule;

/// What the kit found for one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every check of the rule passed; what was seen.
    Pass(String),
    /// A check failed; what was seen.
    Fail(String),
    /// The kit does not check this rule (from outside the implementation, or not yet).
    NotChecked,
}

/// The table for one run.
#[derive(Debug)]
pub struct Report {
    rules: &'static [Rule],
    rows: BTreeMap<&'static str, Outcome>,
}

impl Report {
    /// An empty table over `rules`.
    pub fn new(rules: &'static [Rule]) -> Self {
        Self {
            rules,
            rows: BTreeMap::new(),
        }
    }

    /// Records a passed check of `rule` (a failure recorded before stays).
    pub fn pass(&mut self, rule: &'static str, seen: impl Into<String>) {
        self.check_known(rule);
        let row = self.rows.entry(rule).or_insert(Outcome::NotChecked);
        match row {
            Outcome::Fail(_) => {}
            Outcome::Pass(text) => {
                text.push_str("; ");
                text.push_str(&seen.into());
            }
            Outcome::NotChecked => *row = Outcome::Pass(seen.into()),
        }
    }

    /// Records a failed check of `rule`.
    pub fn fail(&mut self, rule: &'static str, seen: impl Into<String>) {
        self.check_known(rule);
        let row = self.rows.entry(rule).or_insert(Outcome::NotChecked);
        match row {
            Outcome::Fail(text) => {
                text.push_str("; ");
                text.push_str(&seen.into());
            }
            _ => *row = Outcome::Fail(seen.into()),
        }
    }

    /// Records `Ok` as a pass and `Err` as a failure.
    pub fn record(&mut self, rule: &'static str, result: Result<String, String>) {
        match result {
            Ok(seen) => self.pass(rule, seen),
            Err(seen) => self.fail(rule, seen),
        }
    }

    /// The outcome for `rule`.
    pub fn outcome(&self, rule: &str) -> Outcome {
        self.rows.get(rule).cloned().unwrap_or(Outcome::NotChecked)
    }

    /// The rules that failed, in table order.
    pub fn failed(&self) -> Vec<&'static str> {
        self.rules
            .iter()
            .filter(|r| matches!(self.rows.get(r.id), Some(Outcome::Fail(_))))
            .map(|r| r.id)
            .collect()
    }

    fn check_known(&self, rule: &str) {
        assert!(
            self.rules.iter().any(|r| r.id == rule),
            "{rule} is not a rule of this table"
        );
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| rule | result | what | seen |")?;
        writeln!(f, "|---|---|---|---|")?;
        for rule in self.rules {
            let (result, seen) = match self.rows.get(rule.id) {
                Some(Outcome::Pass(s)) => ("pass", s.as_str()),
                Some(Outcome::Fail(s)) => ("FAIL", s.as_str()),
                Some(Outcome::NotChecked) | None => ("not checked", ""),
            };
            writeln!(f, "| {} | {result} | {} | {seen} |", rule.id, rule.what)?;
        }
        Ok(())
    }
}
