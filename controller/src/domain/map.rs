//! The map's settings: where its background tiles come from, if anywhere. With none (the
//! default) the console's map draws speakers and village clusters on a plain background
//! and needs no network; a county names its own tile server, or Tianditu (which needs a
//! key), and says which datum its tiles are drawn in: WGS-84 (Tianditu, OpenStreetMap) or
//! GCJ-02 (the national "Mars" offset of AutoNavi/Gaode and Tencent maps), so the console
//! moves the speakers' WGS-84 points onto them.

use serde::{Deserialize, Serialize};

use crate::access::Action;
use crate::auth::AuthUser;
use crate::error::AppError;
use crate::state::AppState;
use crate::storage::Setting;

/// The datum a tile server draws in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Datum {
    /// WGS-84 (GPS): Tianditu (CGCS2000, within a metre of it), OpenStreetMap.
    Wgs84,
    /// GCJ-02: AutoNavi/Gaode, Tencent.
    Gcj02,
}

/// A tile server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TileServer {
    /// The tile address with `{z}`, `{x}` and `{y}` (and `{s}` for a subdomain), e.g.
    /// `https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk=KEY`.
    pub url: String,
    /// The characters or words `{s}` takes in turn (`01234567` for Tianditu).
    #[serde(default)]
    pub subdomains: String,
    /// Whose map it is, shown in its corner (required by most providers).
    #[serde(default)]
    pub attribution: String,
    /// The datum its tiles are drawn in.
    pub datum: Datum,
    /// Its deepest zoom level (1 to 22, default 18).
    #[serde(default = "max_zoom")]
    pub max_zoom: u8,
}

fn max_zoom() -> u8 {
    18
}

/// The map's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MapSettings {
    /// The tile server; none: a plain background, no network needed.
    #[serde(default)]
    pub tiles: Option<TileServer>,
}

impl Setting for MapSettings {
    const KEY: &'static str = "map";
}

/// Longest tile address, bytes.
const MAX_URL: usize = 1000;

impl TileServer {
    /// What is wrong with it, if anything.
    pub fn check(&self) -> Result<(), String> {
        let url = self.url.trim();
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > MAX_URL {
            return Err(format!(
                "tiles.url: an http:// or https:// address of at most {MAX_URL} bytes"
            ));
        }
        if url.contains(|c: char| c.is_whitespace() || c.is_control() || "\"'<>\\".contains(c)) {
            return Err("tiles.url: no spaces, quotes, < > or \\ in the address".into());
        }
        if let Some(missing) = ["{z}", "{x}", "{y}"].iter().find(|p| !url.contains(**p)) {
            return Err(format!(
                "tiles.url: {missing} is missing (the address needs {{z}}, {{x}} and {{y}})"
            ));
        }
        if url.contains("{s}") && self.subdomains.trim().is_empty() {
            return Err(
                "tiles.subdomains: the address has {s}: give what it stands for (01234567 for Tianditu)"
                    .into(),
            );
        }
        if self.subdomains.len() > 64 || self.attribution.chars().count() > 200 {
            return Err(
                "tiles: subdomains at most 64 bytes, attribution at most 200 characters".into(),
            );
        }
        if self.attribution.contains('<') {
            return Err("tiles.attribution: plain text, no markup".into());
        }
        if !(1..=22).contains(&self.max_zoom) {
            return Err("tiles.max_zoom: 1 to 22".into());
        }
        Ok(())
    }
}

/// A deployment's own area outlines (GeoJSON, WGS-84), drawn under the speakers: none
/// ship with Dalaba; a county imports its own.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outlines(pub Option<serde_json::Value>);

impl Setting for Outlines {
    const KEY: &'static str = "map_outlines";
}

/// Most features an outline file holds.
pub const MAX_FEATURES: usize = 20_000;

/// What is wrong with an outline file, if anything: a GeoJSON `FeatureCollection` of
/// `Polygon` and `MultiPolygon` features (or lines), in degrees.
pub fn check_outlines(doc: &serde_json::Value) -> Result<(), String> {
    if doc["type"] != "FeatureCollection" {
        return Err(
            "not a GeoJSON FeatureCollection (its \"type\" must be \"FeatureCollection\")".into(),
        );
    }
    let features = doc["features"]
        .as_array()
        .ok_or("\"features\": a list of features")?;
    if features.len() > MAX_FEATURES {
        return Err(format!(
            "{} features; at most {MAX_FEATURES}",
            features.len()
        ));
    }
    for (i, f) in features.iter().enumerate() {
        let kind = f["geometry"]["type"].as_str().unwrap_or("");
        if !["Polygon", "MultiPolygon", "LineString", "MultiLineString"].contains(&kind) {
            return Err(format!(
                "feature {}: geometry {kind:?}; outlines are Polygon, MultiPolygon, LineString or MultiLineString",
                i + 1
            ));
        }
        positions_in_range(&f["geometry"]["coordinates"])
            .map_err(|e| format!("feature {}: {e}", i + 1))?;
    }
    Ok(())
}

/// Every `[lon, lat]` in nested coordinate lists is in degrees.
fn positions_in_range(v: &serde_json::Value) -> Result<(), String> {
    let list = v.as_array().ok_or("coordinates must be lists")?;
    match (
        list.first().and_then(|x| x.as_f64()),
        list.get(1).and_then(|x| x.as_f64()),
    ) {
        (Some(lon), Some(lat)) => {
            if (-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat) {
                Ok(())
            } else {
                Err(format!(
                    "[{lon}, {lat}] is not [longitude, latitude] in degrees"
                ))
            }
        }
        _ => list.iter().try_for_each(positions_in_range),
    }
}

/// The deployment's outlines, if it imported some.
pub fn outlines(state: &AppState, user: &AuthUser) -> Result<Outlines, AppError> {
    user.require(Action::View)?;
    Ok(state.storage.setting::<Outlines>()?)
}

/// Replaces the outlines (administrators); `None` removes them.
pub fn set_outlines(
    state: &AppState,
    user: &AuthUser,
    doc: Option<serde_json::Value>,
) -> Result<usize, AppError> {
    user.require(Action::Administer)?;
    if let Some(doc) = &doc {
        check_outlines(doc).map_err(AppError::BadRequest)?;
    }
    let features = doc
        .as_ref()
        .and_then(|d| d["features"].as_array())
        .map_or(0, Vec::len);
    state.storage.set_setting(&Outlines(doc))?;
    tracing::info!(user = %user.name, features, "map outlines set");
    Ok(features)
}

/// The map's settings (anyone who sees speakers).
pub fn settings(state: &AppState, user: &AuthUser) -> Result<MapSettings, AppError> {
    user.require(Action::View)?;
    Ok(state.storage.setting::<MapSettings>()?)
}

/// Replaces the map's settings (administrators).
pub fn set_settings(
    state: &AppState,
    user: &AuthUser,
    mut new: MapSettings,
) -> Result<MapSettings, AppError> {
    user.require(Action::Administer)?;
    if let Some(t) = &mut new.tiles {
        t.url = t.url.trim().to_owned();
        t.check().map_err(AppError::BadRequest)?;
    }
    state.storage.set_setting(&new)?;
    tracing::info!(user = %user.name, tiles = ?new.tiles.as_ref().map(|t| &t.url), "map settings set");
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiles(url: &str, subdomains: &str) -> TileServer {
        TileServer {
            url: url.into(),
            subdomains: subdomains.into(),
            attribution: "天地图".into(),
            datum: Datum::Wgs84,
            max_zoom: 18,
        }
    }

    #[test]
    fn tile_addresses_are_checked() {
        let good = "https://t{s}.tianditu.gov.cn/DataServer?T=vec_w&x={x}&y={y}&l={z}&tk=k";
        assert_eq!(tiles(good, "01234567").check(), Ok(()));
        assert_eq!(
            tiles("http://10.0.0.5/tiles/{z}/{x}/{y}.png", "").check(),
            Ok(())
        );
        for (url, subdomains, expected) in [
            ("ftp://a/{z}/{x}/{y}", "", "tiles.url: an http://"),
            ("https://a/{z}/{x}.png", "", "tiles.url: {y} is missing"),
            ("https://a/{z}/{x}/{y} .png", "", "tiles.url: no spaces"),
            ("https://a/{z}/{x}/{y}\".png", "", "tiles.url: no spaces"),
            (good, "", "tiles.subdomains: the address has {s}"),
        ] {
            let e = tiles(url, subdomains).check().expect_err(url);
            assert!(e.starts_with(expected), "{url}: {e}");
        }
        let mut deep = tiles("https://a/{z}/{x}/{y}", "");
        deep.max_zoom = 23;
        assert_eq!(deep.check(), Err("tiles.max_zoom: 1 to 22".into()));
    }

    #[test]
    fn outlines_are_polygons_in_degrees() {
        let square = |a: f64, b: f64| {
            serde_json::json!({"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {"name": "东村"},
                 "geometry": {"type": "Polygon", "coordinates": [[[a, b], [a + 0.01, b], [a, b + 0.01], [a, b]]]}}]})
        };
        assert_eq!(check_outlines(&square(120.1, 30.2)), Ok(()));
        let swapped = check_outlines(&square(30.2, 120.1)).expect_err("lat 120");
        assert!(swapped.starts_with("feature 1: [30.2, 120.1]"), "{swapped}");
        let point = serde_json::json!({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.1, 30.2]}}]});
        assert!(
            check_outlines(&point)
                .expect_err("point")
                .contains("\"Point\"")
        );
        let bare = serde_json::json!({"type": "Polygon", "coordinates": []});
        assert!(
            check_outlines(&bare)
                .expect_err("bare")
                .starts_with("not a GeoJSON FeatureCollection")
        );
    }
}
