//! Moving many values between Postgres and Rust buffers, for refresh(): streaming the rows of a
//! query in (the whole interaction log), and building the big array parameters of its INSERTs.
//!
//! A SPI cursor copies every result row into a tuple table and pgrx then calls back into
//! Postgres for each value; at 2M rows (tier M) that copying and the per-call FFI guards cost more
//! than the scan. Here the executor hands each row's slot to a DestReceiver of ours
//! (`SPI_execute_extended` with `dest`, PL/pgSQL's RETURN QUERY path), and the values are read in
//! place. Planning, permissions, row-level security and interrupts (statement_timeout,
//! pg_cancel_backend) are the executor's as for any SPI query.

use std::ffi::{c_int, CString};

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::errors;

/// The executor sees a `*mut DestReceiver`; `dest` comes first so it is also a `*mut Receiver`.
#[repr(C)]
struct Receiver<'a> {
    dest: pg_sys::DestReceiver,
    natts: usize,
    on_row: &'a mut dyn FnMut(&[pg_sys::Datum], &[bool]),
}

#[pg_guard]
unsafe extern "C-unwind" fn receive_slot(
    slot: *mut pg_sys::TupleTableSlot,
    dest: *mut pg_sys::DestReceiver,
) -> bool {
    // SAFETY: `dest` is the first field of the Receiver that for_each_row() passed to SPI, which
    // outlives the query; the slot holds a row of `natts` columns.
    unsafe {
        let receiver = &mut *(dest as *mut Receiver);
        let natts = receiver.natts;
        // A projected row arrives as a virtual slot with every value filled in; only a plain
        // heap row still needs deforming.
        if ((*slot).tts_nvalid as usize) < natts {
            pg_sys::slot_getsomeattrs_int(slot, natts as c_int);
        }
        let values = std::slice::from_raw_parts((*slot).tts_values, natts);
        let nulls = std::slice::from_raw_parts((*slot).tts_isnull, natts);
        (receiver.on_row)(values, nulls);
    }
    true
}

#[pg_guard]
unsafe extern "C-unwind" fn startup(
    dest: *mut pg_sys::DestReceiver,
    _operation: c_int,
    typeinfo: pg_sys::TupleDesc,
) {
    // SAFETY: as in receive_slot; `typeinfo` describes the result rows.
    unsafe { (*(dest as *mut Receiver)).natts = (*typeinfo).natts as usize };
}

#[pg_guard]
unsafe extern "C-unwind" fn nothing(_dest: *mut pg_sys::DestReceiver) {}

/// Run the read-only `query` (no parameters) in the current SPI connection and call `on_row`
/// with each row's values and null flags, in the executor's order. Returns the number of rows.
///
/// `on_row` runs inside the executor: it must not call Postgres and should not panic (a panic
/// becomes an ERROR, which aborts the query). Datums are valid only during the call.
pub fn for_each_row(
    what: &str,
    query: &str,
    on_row: &mut dyn FnMut(&[pg_sys::Datum], &[bool]),
) -> u64 {
    let sql = CString::new(query).expect("queries are static and have no NUL");
    let mut receiver = Receiver {
        dest: pg_sys::DestReceiver {
            receiveSlot: Some(receive_slot),
            rStartup: Some(startup),
            rShutdown: Some(nothing),
            rDestroy: Some(nothing),
            // What PL/pgSQL's RETURN QUERY receiver says it is. Not DestNone: SPI reports a
            // SELECT into DestNone as a discarded result (SPI_OK_UTILITY).
            mydest: pg_sys::CommandDest::DestTuplestore,
        },
        natts: 0,
        on_row,
    };
    let options = pg_sys::SPIExecuteOptions {
        dest: &mut receiver.dest,
        ..Default::default()
    };
    // SAFETY: called inside an SPI connection (the callers run in Spi::connect); `receiver`
    // stays in place until SPI_execute_extended returns.
    let rc = unsafe { pg_sys::SPI_execute_extended(sql.as_ptr(), &options) };
    if rc != pg_sys::SPI_OK_SELECT as c_int {
        errors::raise(
            pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            format!("reco: {what}: SPI_execute_extended returned {rc}"),
            None,
        );
    }
    // SAFETY: set by the execution above.
    unsafe { pg_sys::SPI_processed }
}

/// The bytes of a text datum, detoasted first when it is compressed or stored out of line (the
/// short inline values of this schema never are).
///
/// # Safety
/// `datum` must be a non-null text (or other varlena) datum valid for `'a`.
pub unsafe fn text_bytes<'a>(datum: pg_sys::Datum) -> &'a [u8] {
    unsafe {
        let mut ptr = datum.cast_mut_ptr::<pg_sys::varlena>();
        if pgrx::varlena::varatt_is_1b_e(ptr) || pgrx::varlena::varatt_is_4b_c(ptr) {
            ptr = pg_sys::pg_detoast_datum_packed(ptr);
        }
        pgrx::varlena::varlena_to_byte_slice(ptr)
    }
}

/// A one-dimensional array of `values` (element type `elem`, pass-by-value, `len` bytes, alignment
/// `align`), as a parameter of type `array` for SPI. One call into Postgres per array: pgrx's
/// `Vec<T>` conversion makes one per element, 6M of them for the user factors of tier M.
fn array_param<'a>(
    values: impl ExactSizeIterator<Item = pg_sys::Datum>,
    elem: pg_sys::Oid,
    len: i32,
    align: u8,
    array: pg_sys::Oid,
) -> pgrx::datum::DatumWithOid<'a> {
    let mut datums: Vec<pg_sys::Datum> = values.collect();
    let n = i32::try_from(datums.len()).expect("arrays are written in batches far below 2^31");
    // SAFETY: `datums` holds n values of type `elem`; construct_array copies them into a new
    // array in the current memory context, which outlives the statement it is passed to.
    unsafe {
        let array_ptr = pg_sys::construct_array(
            datums.as_mut_ptr(),
            n,
            elem,
            len,
            true,
            align as std::ffi::c_char,
        );
        pgrx::datum::DatumWithOid::new(pg_sys::Datum::from(array_ptr), array)
    }
}

/// `values` as a float4[] parameter.
pub fn float4_array<'a>(values: &[f32]) -> pgrx::datum::DatumWithOid<'a> {
    array_param(
        values
            .iter()
            .map(|v| pg_sys::Datum::from(v.to_bits() as usize)),
        pg_sys::FLOAT4OID,
        4,
        pg_sys::TYPALIGN_INT,
        pg_sys::FLOAT4ARRAYOID,
    )
}

/// `values` as an int8[] parameter.
pub fn int8_array<'a>(values: &[i64]) -> pgrx::datum::DatumWithOid<'a> {
    array_param(
        values.iter().map(|&v| pg_sys::Datum::from(v as usize)),
        pg_sys::INT8OID,
        8,
        pg_sys::TYPALIGN_DOUBLE,
        pg_sys::INT8ARRAYOID,
    )
}

/// `values` as an int4[] parameter.
pub fn int4_array<'a>(values: &[i32]) -> pgrx::datum::DatumWithOid<'a> {
    array_param(
        values
            .iter()
            .map(|&v| pg_sys::Datum::from(v as u32 as usize)),
        pg_sys::INT4OID,
        4,
        pg_sys::TYPALIGN_INT,
        pg_sys::INT4ARRAYOID,
    )
}
