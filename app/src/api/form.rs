//! Parsing the text fields of launch forms on the server, so errors name the field.

use crate::ssr::fail;
use crate::ApiError;

pub fn parse_id(field: &str, text: &str) -> Result<Option<i64>, ApiError> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    t.parse::<i64>()
        .map(Some)
        .map_err(|_| fail(ApiError::BadRequest(format!("{field}: {t:?} is not an id"))))
}

/// A number that may be left empty (None).
pub fn parse_opt<T: std::str::FromStr>(field: &str, text: &str) -> Result<Option<T>, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse().map(Some).map_err(|_| {
        fail(ApiError::BadRequest(format!(
            "{field}: {t:?} is not a valid value"
        )))
    })
}

pub fn parse_num<T: std::str::FromStr>(field: &str, text: &str, default: T) -> Result<T, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(default);
    }
    t.parse().map_err(|_| {
        fail(ApiError::BadRequest(format!(
            "{field}: {t:?} is not a valid value"
        )))
    })
}
