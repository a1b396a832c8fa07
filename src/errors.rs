//! Errors that reach the user as Postgres errors with a SQLSTATE, a message saying what was wrong
//! and a hint saying what to do, never as a panic.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Raise an ERROR (never returns).
pub fn raise(code: PgSqlErrorCode, message: impl Into<String>, hint: Option<&str>) -> ! {
    let mut report = ErrorReport::new(code, message.into(), "reco");
    if let Some(hint) = hint {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

pub fn invalid_parameter(message: impl Into<String>, hint: Option<&str>) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        message,
        hint,
    )
}

pub fn null_value(message: impl Into<String>) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
        message,
        None,
    )
}

pub fn no_data(message: impl Into<String>, hint: Option<&str>) -> ! {
    raise(PgSqlErrorCode::ERRCODE_NO_DATA_FOUND, message, hint)
}

/// An SPI failure is a bug or a broken installation, not bad user input.
pub fn spi(context: &str, err: pgrx::spi::SpiError) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        format!("reco: {context}: {err}"),
        None,
    )
}

/// Validate `k` the same way for every function that returns top-k rows.
pub fn check_k(k: Option<i32>) -> usize {
    match k {
        None => null_value("k must not be NULL"),
        Some(k) if !(1..=crate::guc::MAX_K).contains(&k) => invalid_parameter(
            format!("k must be between 1 and {}, got {k}", crate::guc::MAX_K),
            Some("Ask for fewer rows, e.g. recommend(user_id, 10)."),
        ),
        Some(k) => k as usize,
    }
}
