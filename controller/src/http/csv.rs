//! CSV answers (the audit log, the broadcast log): one row per line, fields quoted where
//! they must be, served as a file a spreadsheet opens.

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse as _, Response};

/// One CSV field: quoted when it holds a comma, a quote or a line break.
pub fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A time (µs since 1970) as RFC 3339 in UTC; empty for none.
pub fn time(us: Option<u64>) -> String {
    us.and_then(|us| chrono::DateTime::from_timestamp_micros(us as i64))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default()
}

/// `rows` (each already a line of fields) after `header`, as the file `name`.
pub fn response(
    name: &'static str,
    header: &str,
    rows: impl IntoIterator<Item = String>,
) -> Response {
    let mut out = format!("{header}\r\n");
    for row in rows {
        out.push_str(&row);
        out.push_str("\r\n");
    }
    let mut response = Bytes::from(out).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_when_needed() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }
}
