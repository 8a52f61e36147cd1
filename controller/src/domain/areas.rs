//! Area names: the name of each area code, so that people see 西湖区 and 东村, not
//! 330106 and 330106001001. Province to township names ship with the binary
//! (`controller/data/areas.tsv.gz`, the statistics bureau's 2023 division codes); a
//! deployment adds its villages and renames any code ([`set`], from JSON or CSV), and its
//! names come first.

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::access::Action;
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;

/// The shipped names: `code<TAB>name` lines, gzip.
const SHIPPED_GZ: &[u8] = include_bytes!("../../data/areas.tsv.gz");

/// Longest name, characters.
pub const MAX_NAME_CHARS: usize = 50;

/// Most names set at once.
pub const MAX_NAMES: usize = 100_000;

/// The shipped names by code (read once).
fn shipped() -> &'static HashMap<String, String> {
    static SHIPPED: OnceLock<HashMap<String, String>> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let mut text = String::new();
        // The file is part of the binary and checked by a test: it cannot fail here
        // without failing that test first.
        if flate2::read::GzDecoder::new(SHIPPED_GZ)
            .read_to_string(&mut text)
            .is_err()
        {
            tracing::error!("the shipped area names do not decompress");
            return HashMap::new();
        }
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(c, n)| (c.to_owned(), n.to_owned()))
            .collect()
    })
}

/// How many names ship with the binary.
pub fn shipped_count() -> usize {
    shipped().len()
}

/// One area's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AreaName {
    /// The area code: 2 (province), 4 (city), 6 (county), 9 (township) or 12 (village)
    /// digits.
    pub code: String,
    /// Its name; empty when setting removes the deployment's own.
    pub name: String,
}

/// The names in force: the deployment's, then the shipped ones.
#[derive(Debug)]
pub struct Names {
    own: HashMap<String, String>,
}

impl Names {
    /// The names in force now.
    pub fn load(state: &AppState) -> Result<Self, AppError> {
        Ok(Self {
            own: state.storage.area_names()?.into_iter().collect(),
        })
    }

    /// `code`'s name, if it has one.
    pub fn name(&self, code: &str) -> Option<&str> {
        self.own
            .get(code)
            .or_else(|| shipped().get(code))
            .map(String::as_str)
    }

    /// `code`'s name with the names of the areas above it that make it clear, nearest
    /// last: `西湖区 北山街道 东村` (the province and city are left out).
    pub fn full(&self, code: &str) -> Option<String> {
        let parts: Vec<&str> = [6, 9, 12]
            .into_iter()
            .filter(|&n| n <= code.len())
            .filter_map(|n| self.name(&code[..n]))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

/// Checks an area code: digits, of one of the five levels' lengths.
pub fn check_code(code: &str) -> Result<(), String> {
    if !matches!(code.len(), 2 | 4 | 6 | 9 | 12) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "area code {code:?}: 2, 4, 6, 9 or 12 digits (province, city, county, township, village)"
        ));
    }
    Ok(())
}

/// Reads `code,name` lines (a header line and blank lines are skipped; a name may be in
/// double quotes; a tab may stand for the comma). Every bad line is reported with its
/// number, and nothing is taken from a file with one.
pub fn parse_csv(text: &str) -> Result<Vec<AreaName>, String> {
    let mut names = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (i == 0 && !line.starts_with(|c: char| c.is_ascii_digit())) {
            continue;
        }
        let Some((code, name)) = line.split_once([',', '\t']) else {
            bad.push(format!("line {}: expected code,name", i + 1));
            continue;
        };
        let name = name.trim();
        let name = name
            .strip_prefix('"')
            .and_then(|n| n.strip_suffix('"'))
            .unwrap_or(name);
        let named = AreaName {
            code: code.trim().to_owned(),
            name: name.trim().to_owned(),
        };
        match check(&named) {
            Ok(()) => names.push(named),
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    if !bad.is_empty() {
        return Err(crate::error::bad_lines("nothing was imported", bad));
    }
    Ok(names)
}

fn check(n: &AreaName) -> Result<(), String> {
    check_code(&n.code)?;
    if n.name.chars().count() > MAX_NAME_CHARS || n.name.chars().any(char::is_control) {
        return Err(format!(
            "{}: a name of at most {MAX_NAME_CHARS} characters, on one line",
            n.code
        ));
    }
    Ok(())
}

/// Sets the deployment's names (administrators): each code gets its name; an empty name
/// removes the deployment's own. Checked in full first: one bad entry and nothing changes.
pub fn set(state: &AppState, user: &AuthUser, names: &[AreaName]) -> Result<usize, AppError> {
    user.require(Action::Administer)?;
    if names.len() > MAX_NAMES {
        return Err(AppError::BadRequest(format!(
            "at most {MAX_NAMES} names at once (this has {})",
            names.len()
        )));
    }
    for n in names {
        check(n).map_err(AppError::BadRequest)?;
    }
    let pairs: Vec<(String, String)> = names
        .iter()
        .map(|n| (n.code.clone(), n.name.clone()))
        .collect();
    let changed = state.storage.set_area_names(&pairs)?;
    tracing::info!(user = %user.name, names = names.len(), changed, "area names set");
    state.changes.bump();
    Ok(changed)
}

/// The names in force for `prefix` and every area under it (at most `limit`), sorted by
/// code: the deployment's and the shipped ones.
pub fn list(
    state: &AppState,
    user: &AuthUser,
    prefix: &str,
    limit: usize,
) -> Result<Vec<AreaName>, AppError> {
    user.require(Action::View)?;
    if prefix.len() < 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::BadRequest(
            "prefix: at least the 2 digits of a province, e.g. 33 or 330106".into(),
        ));
    }
    let names = Names::load(state)?;
    let mut codes: Vec<&String> = shipped()
        .keys()
        .chain(names.own.keys())
        .filter(|c| c.starts_with(prefix))
        .collect();
    codes.sort();
    codes.dedup();
    Ok(codes
        .into_iter()
        .filter_map(|c| {
            names.name(c).map(|n| AreaName {
                code: c.clone(),
                name: n.to_owned(),
            })
        })
        .take(limit)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_names_reach_townships() {
        assert!(shipped_count() > 40_000, "{}", shipped_count());
        let s = shipped();
        assert_eq!(s["33"], "浙江省");
        assert_eq!(s["330106"], "西湖区");
        assert_eq!(s["330106002"], "北山街道");
        assert!(s.keys().all(|c| check_code(c).is_ok() && c.len() < 12));
    }

    #[test]
    fn csv_lines_are_read_or_every_bad_one_reported() {
        let ok = parse_csv("code,name\n330106002001,\"东村\"\n\n330106002002\t西村\n").unwrap();
        assert_eq!(
            ok,
            [
                AreaName {
                    code: "330106002001".into(),
                    name: "东村".into()
                },
                AreaName {
                    code: "330106002002".into(),
                    name: "西村".into()
                },
            ]
        );
        let err = parse_csv("330106002001,东村\n3301060020,短\nno comma\n").unwrap_err();
        assert!(err.contains("line 2: area code \"3301060020\""), "{err}");
        assert!(err.contains("line 3: expected code,name"), "{err}");
        assert!(err.starts_with("nothing was imported"), "{err}");
    }
}
