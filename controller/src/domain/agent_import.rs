//! Many speakers at once: a county's installation list (a spreadsheet saved as CSV, or a
//! JSON list) becomes speakers, each with its enrolment token and, given the agents'
//! address, its terminal's configuration file. Checked in full first: one bad line and
//! nothing is created, and the answer names every bad line.

use std::collections::HashSet;

use crate::access::Action;
use crate::agent_admin::{self, CreateAgent, CreatedAgent};
use crate::areas::Names;
use crate::auth::AuthUser;
use crate::error::{AppError, bad_lines};
use crate::state::AppState;
use crate::storage::Location;

/// Most speakers one import makes (a large county has about 10,000).
pub const MAX_IMPORT: usize = 20_000;

/// The columns of an installation list, in order (a header line with these names, or
/// any other that does not start with a speaker, is skipped).
pub const COLUMNS: &str = "id,name,area_code,groups,lat,lon";

/// One speaker of a list, with its line (or entry) number; or why its line is not one.
pub type Row = (usize, Result<CreateAgent, String>);

/// Reads an installation list: `id,name,area_code,groups,lat,lon` per line, groups
/// separated by `;`, latitude and longitude optional (both or neither); fields in double
/// quotes where they hold a comma. A line that is not a speaker says why, and [`import`]
/// reports it with the rest.
pub fn parse_csv(text: &str) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows = Vec::new();
    let mut first = true;
    for (i, record) in reader.records().enumerate() {
        let line = record
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map_or(i + 1, |p| p.line() as usize);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                rows.push((line, Err(e.to_string())));
                continue;
            }
        };
        let field = |n: usize| record.get(n).unwrap_or("").to_owned();
        if record.iter().all(str::is_empty) {
            continue;
        }
        // A header: the first line, with no digit where the area code goes.
        if std::mem::take(&mut first) && !field(2).bytes().any(|b| b.is_ascii_digit()) {
            continue;
        }
        if !(3..=6).contains(&record.len()) {
            let why = format!("{} fields; expected {COLUMNS}", record.len());
            rows.push((line, Err(why)));
            continue;
        }
        let location = match (field(4).as_str(), field(5).as_str()) {
            ("", "") => None,
            (lat, lon) => match (lat.parse(), lon.parse()) {
                (Ok(lat), Ok(lon)) => Some(Location { lat, lon }),
                _ => {
                    let why = "lat and lon are numbers (30.2741, 120.1210), both or neither";
                    rows.push((line, Err(why.into())));
                    continue;
                }
            },
        };
        let groups = field(3)
            .split([';', '；'])
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        let agent = CreateAgent::new(field(0), field(1), field(2), groups, location);
        rows.push((line, Ok(agent)));
    }
    rows
}

/// Creates every speaker of the list (`rows`, each with its line or entry number), or none:
/// each is checked as `POST /api/agents` checks one, ids must differ, and none may exist.
/// With `agent_url`, each answer holds its terminal's configuration file.
pub fn import(
    state: &AppState,
    user: &AuthUser,
    rows: Vec<Row>,
    agent_url: Option<&str>,
) -> Result<Vec<CreatedAgent>, AppError> {
    user.require(Action::ManageAgents)?;
    if rows.is_empty() || rows.len() > MAX_IMPORT {
        return Err(AppError::BadRequest(format!(
            "1 to {MAX_IMPORT} speakers at once (this has {})",
            rows.len()
        )));
    }
    let mut seen = HashSet::new();
    let mut ready = Vec::with_capacity(rows.len());
    let mut bad = Vec::new();
    for (line, row) in rows {
        let mut row = match row {
            Ok(row) => row,
            Err(why) => {
                bad.push(format!("line {line}: {why}"));
                continue;
            }
        };
        if !seen.insert(row.id.trim().to_owned()) {
            bad.push(format!("line {line}: id {} is in the list twice", row.id));
            continue;
        }
        if row.agent_url.is_none() {
            row.agent_url = agent_url.map(str::to_owned);
        }
        match agent_admin::new_agent(state, user, row) {
            Ok(agent) if state.storage.agent(&agent.record.id)?.is_some() => bad.push(format!(
                "line {line}: speaker {} exists already",
                agent.record.id
            )),
            Ok(agent) => ready.push(agent),
            Err(e) => bad.push(format!("line {line}: {e}")),
        }
    }
    if !bad.is_empty() {
        return Err(AppError::BadRequest(bad_lines("nothing was imported", bad)));
    }
    let records: Vec<_> = ready.iter().map(|a| a.record.clone()).collect();
    state.storage.create_agents(&records)?;
    tracing::info!(user = %user.name, agents = records.len(), "agents imported");
    state.changes.bump();
    let names = Names::load(state)?;
    Ok(ready
        .into_iter()
        .map(|a| agent_admin::created(state, &names, a))
        .collect())
}
