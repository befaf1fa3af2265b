//! A setting that cannot be used, named by its field: what every configuration check returns,
//! so callers can tell a bad value (the user's to fix) from a missing file or a failing device.

/// One bad setting: `field` is its dotted name (`training.lora.rank`), `reason` says why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: String,
    pub reason: String,
}

impl FieldError {
    pub fn new(field: &str, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// The same error for a field nested in `section` (`lora.rank` in `training`).
    pub fn within(self, section: &str) -> Self {
        FieldError {
            field: format!("{section}.{}", self.field),
            reason: self.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_fields_are_named_in_full() {
        let e = FieldError::new("rank", "must be at least 1")
            .within("lora")
            .within("training");
        assert_eq!(e.field, "training.lora.rank");
        assert_eq!(e.to_string(), "training.lora.rank: must be at least 1");
    }
}
