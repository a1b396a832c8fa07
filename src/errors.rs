//! Errors that reach the user as Postgres errors with a SQLSTATE, a message saying what was wrong
//! and a hint saying what to do, never as a panic.

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::spi::{SpiError, SpiHeapTupleData, SpiResult, SpiTupleTable};
use pgrx::{FromDatum, IntoDatum, PgLogLevel, PgSqlErrorCode};

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

/// A row of a SPI result that values can be read from (a tuple table positioned on a row, or a
/// row of its iterator).
pub trait SpiRow {
    fn value<T: IntoDatum + FromDatum>(&self, ordinal: usize) -> SpiResult<Option<T>>;
}

impl SpiRow for SpiTupleTable<'_> {
    fn value<T: IntoDatum + FromDatum>(&self, ordinal: usize) -> SpiResult<Option<T>> {
        self.get(ordinal)
    }
}

impl SpiRow for SpiHeapTupleData<'_> {
    fn value<T: IntoDatum + FromDatum>(&self, ordinal: usize) -> SpiResult<Option<T>> {
        self.get(ordinal)
    }
}

/// Value `ordinal` (1-based) of `row`, which comes from column `name` of `table`. pgrx checks
/// that the column's type converts to `T`; a column whose type was altered is an error that
/// names it (42804), never a silently wrong value.
pub fn column<T: IntoDatum + FromDatum>(
    row: &impl SpiRow,
    ordinal: usize,
    table: &str,
    name: &str,
) -> Option<T> {
    match row.value::<T>(ordinal) {
        Ok(v) => v,
        Err(SpiError::DatumError(e)) => raise(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            format!("column {table}.{name} does not have the type reco reads it as: {e}"),
            Some("The columns of reco's tables must keep the types the extension created them with: change the column back (ALTER TABLE ... ALTER COLUMN ... TYPE ...)."),
        ),
        Err(e) => spi(&format!("reading {table}.{name}"), e),
    }
}
