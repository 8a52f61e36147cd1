//! The kit's rule table is PROTOCOL.md section 14, word for word.

use dalaba_conformance::rules::{AGENT_RULES, CONTROLLER_RULES};

#[test]
fn the_rules_are_the_documents() {
    let doc = include_str!("../../PROTOCOL.md");
    let section = doc
        .split("## 14. Every MUST, numbered")
        .nth(1)
        .and_then(|s| s.split("### 14.1").next())
        .expect("section 14");
    let rows: Vec<(String, String)> = section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().trim_matches('|').split(" | ").collect();
            let id = cells.first()?.trim();
            let ok = id.len() >= 2
                && (id.starts_with('A') || id.starts_with('C'))
                && id[1..].chars().all(|c| c.is_ascii_digit());
            let what = cells.get(1)?.trim().to_owned();
            ok.then(|| (id.to_owned(), what))
        })
        .collect();
    let ours: Vec<(String, String)> = AGENT_RULES
        .iter()
        .chain(CONTROLLER_RULES)
        .map(|r| (r.id.to_owned(), r.what.to_owned()))
        .collect();
    assert_eq!(rows, ours);
}
