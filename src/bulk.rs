//! Moving many values between Postgres and Rust buffers, for refresh(): streaming the rows of a
//! query in (the whole interaction log), and writing the rows of a new model version's tables
//! out ([`TableWriter`]).
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
    columns: &'a [Column<'a>],
    on_row: &'a mut dyn FnMut(&[pg_sys::Datum], &[bool]),
}

/// What the reader of a result column expects: the values are read raw (an int8 as the datum
/// itself, a text through its varlena header), so a column of another type would be read as
/// garbage or crash the backend. [`for_each_row`] checks every column's type against this once
/// per query, before the first row, and refuses a mismatch with SQLSTATE 42804 naming the
/// column: a shop may have altered the type of a column of reco's tables.
#[derive(Clone, Copy)]
pub struct Column<'a> {
    /// The table the column comes from, for the message (e.g. "reco.shoes").
    pub table: &'a str,
    /// Its name in that table.
    pub name: &'a str,
    pub kind: Kind,
}

/// Column types the raw readers know how to read.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Int8,
    Int4,
    Float8,
    Bool,
    TimestampTz,
    /// text or varchar (the same bytes).
    Text,
    /// real[] (read with [`float4_array`]).
    Float4Array,
}

impl Kind {
    fn accepts(self, oid: pg_sys::Oid) -> bool {
        match self {
            Kind::Int8 => oid == pg_sys::INT8OID,
            Kind::Int4 => oid == pg_sys::INT4OID,
            Kind::Float8 => oid == pg_sys::FLOAT8OID,
            Kind::Bool => oid == pg_sys::BOOLOID,
            Kind::TimestampTz => oid == pg_sys::TIMESTAMPTZOID,
            Kind::Text => oid == pg_sys::TEXTOID || oid == pg_sys::VARCHAROID,
            Kind::Float4Array => oid == pg_sys::FLOAT4ARRAYOID,
        }
    }

    fn sql_name(self) -> &'static str {
        match self {
            Kind::Int8 => "bigint",
            Kind::Int4 => "integer",
            Kind::Float8 => "double precision",
            Kind::Bool => "boolean",
            Kind::TimestampTz => "timestamp with time zone",
            Kind::Text => "text",
            Kind::Float4Array => "real[]",
        }
    }
}

impl<'a> Column<'a> {
    pub const fn new(table: &'a str, name: &'a str, kind: Kind) -> Column<'a> {
        Column { table, name, kind }
    }
}

/// Raises 42804 for a column whose type `found` is not what `expected` reads.
pub fn type_mismatch(expected: &Column, found: pg_sys::Oid) -> ! {
    // SAFETY: format_type_be only reads the catalogs; it raises for an unknown oid, which a
    // column's type never is.
    let found_name = unsafe {
        let p = pg_sys::format_type_be(found);
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    errors::raise(
        pgrx::PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
        format!(
            "column {}.{} has type {found_name}, but reco reads it as {}",
            expected.table,
            expected.name,
            expected.kind.sql_name()
        ),
        Some("The columns of reco's tables must keep the types the extension created them with: change the column back (ALTER TABLE ... ALTER COLUMN ... TYPE ...)."),
    )
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
    // SAFETY: as in receive_slot; `typeinfo` describes the result rows, `natts` attributes.
    unsafe {
        let receiver = &mut *(dest as *mut Receiver);
        let natts = (*typeinfo).natts as usize;
        let attrs = (*typeinfo).attrs.as_slice(natts);
        if natts != receiver.columns.len() {
            errors::raise(
                pgrx::PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                format!(
                    "reco: a query returned {natts} columns where {} were expected",
                    receiver.columns.len()
                ),
                None,
            );
        }
        for (attr, column) in attrs.iter().zip(receiver.columns) {
            if !column.kind.accepts(attr.atttypid) {
                type_mismatch(column, attr.atttypid);
            }
        }
        receiver.natts = natts;
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn nothing(_dest: *mut pg_sys::DestReceiver) {}

/// Run the read-only `query` (no parameters) in the current SPI connection and call `on_row`
/// with each row's values and null flags, in the executor's order. Returns the number of rows.
/// `columns` describes the result columns; their types are checked before the first row (see
/// [`Column`]), so `on_row` may read each value as its [`Kind`] says.
///
/// `on_row` runs inside the executor, on this thread: it must not run queries (no SPI), may use
/// plain Postgres functions such as detoasting ([`text_bytes`]), and should not panic (a panic
/// becomes an ERROR, which aborts the query). Datums are valid only during the call.
pub fn for_each_row(
    what: &str,
    query: &str,
    columns: &[Column],
    on_row: &mut dyn FnMut(&[pg_sys::Datum], &[bool]),
) -> u64 {
    for_each_row_with(what, query, None, columns, on_row)
}

/// [`for_each_row`] for a query with one bigint parameter `$1`.
pub fn for_each_row_int8(
    what: &str,
    query: &str,
    param: i64,
    columns: &[Column],
    on_row: &mut dyn FnMut(&[pg_sys::Datum], &[bool]),
) -> u64 {
    // SAFETY: makeParamList allocates one parameter in the current memory context, which lives
    // until the end of the call; an int8 is passed by value.
    let params = unsafe {
        let list = pg_sys::makeParamList(1);
        let slot = (*list).params.as_mut_slice(1);
        slot[0] = pg_sys::ParamExternData {
            value: pg_sys::Datum::from(param as usize),
            isnull: false,
            pflags: pg_sys::PARAM_FLAG_CONST as u16,
            ptype: pg_sys::INT8OID,
        };
        list
    };
    for_each_row_with(what, query, Some(params), columns, on_row)
}

fn for_each_row_with(
    what: &str,
    query: &str,
    params: Option<pg_sys::ParamListInfo>,
    columns: &[Column],
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
        columns,
        on_row,
    };
    let options = pg_sys::SPIExecuteOptions {
        dest: &mut receiver.dest,
        params: params.unwrap_or(std::ptr::null_mut()),
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

/// The names of the live columns of table `relid`, in order.
pub fn table_columns(relid: pg_sys::Oid) -> Vec<String> {
    // SAFETY: relcache access on the main thread; the relation is opened and closed here (the
    // lock is kept to the end of the transaction, as for any read of its definition).
    unsafe {
        let rel = pg_sys::table_open(relid, pg_sys::AccessShareLock as pg_sys::LOCKMODE);
        let tupdesc = (*rel).rd_att;
        let natts = (*tupdesc).natts as usize;
        let names = (*tupdesc)
            .attrs
            .as_slice(natts)
            .iter()
            .filter(|a| !a.attisdropped)
            .map(|a| pg_sys::name_data_to_str(&a.attname).to_string())
            .collect();
        pg_sys::table_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        names
    }
}

/// The values of a real[] datum without NULLs, detoasted first when needed; None for an array
/// with NULL elements or more than one dimension. An empty array gives an empty slice.
///
/// # Safety
/// `datum` must be a non-null real[] datum valid for `'a` (a column checked as
/// [`Kind::Float4Array`]).
pub unsafe fn float4_array<'a>(datum: pg_sys::Datum) -> Option<&'a [f32]> {
    unsafe {
        let array = pg_sys::pg_detoast_datum(datum.cast_mut_ptr::<pg_sys::varlena>())
            as *const pg_sys::ArrayType;
        if (*array).ndim == 0 {
            return Some(&[]);
        }
        if (*array).ndim != 1 || (*array).dataoffset != 0 || (*array).elemtype != pg_sys::FLOAT4OID
        {
            return None;
        }
        // One dimension, no null bitmap: the header, the dimension and the lower bound, then the
        // values (ARR_OVERHEAD_NONULLS(1) = 24 bytes, as written by array_datum()).
        let base = array as *const u8;
        let len = *(base.add(std::mem::size_of::<pg_sys::ArrayType>()) as *const i32);
        Some(std::slice::from_raw_parts(
            base.add(24) as *const f32,
            len.max(0) as usize,
        ))
    }
}

/// Rows handed to the table access method at a time by [`TableWriter`] (COPY FROM uses 1000).
const WRITER_BATCH: usize = 1000;

/// Writes rows straight into a table through its access method's multi-insert, as COPY FROM
/// does, for the tables of a new model version: 95k user rows went in 0.27 s through
/// `INSERT ... SELECT unnest(...)` on tier M, most of it executor work per row.
///
/// Only for a table created earlier in the current transaction, with no indexes and no triggers
/// (refresh() creates each version's tables, fills them, and only then builds their keys and
/// attaches them): nobody else can see such a table before the commit, and there is nothing to
/// maintain beside the heap. [`TableWriter::open`] checks all of that, and the column names
/// and types, and refuses otherwise. Constraints are not evaluated on this path: every value
/// must be non-NULL and of the column's type, which the typed `Value`s guarantee, and the caller
/// must keep the table's CHECK (model_id = its version), which refresh() does by construction.
pub struct TableWriter {
    rel: pg_sys::Relation,
    slots: Vec<*mut pg_sys::TupleTableSlot>,
    filled: usize,
    bistate: pg_sys::BulkInsertState,
    cid: pg_sys::CommandId,
    /// Holds the array values of the rows not yet handed over; reset after each batch.
    batch_memory: pgrx::PgMemoryContexts,
}

/// A column value for [`TableWriter::write_row`].
pub enum Value<'a> {
    Int8(i64),
    Float4(f32),
    Float4Array(&'a [f32]),
    Int4Array(&'a [i32]),
    Int8Array(&'a [i64]),
}

impl Value<'_> {
    fn type_oid(&self) -> pg_sys::Oid {
        match self {
            Value::Int8(_) => pg_sys::INT8OID,
            Value::Float4(_) => pg_sys::FLOAT4OID,
            Value::Float4Array(_) => pg_sys::FLOAT4ARRAYOID,
            Value::Int4Array(_) => pg_sys::INT4ARRAYOID,
            Value::Int8Array(_) => pg_sys::INT8ARRAYOID,
        }
    }

    /// The datum, allocated (for arrays) in the current memory context.
    fn datum(&self) -> pg_sys::Datum {
        match self {
            Value::Int8(v) => pg_sys::Datum::from(*v as usize),
            Value::Float4(v) => pg_sys::Datum::from(v.to_bits() as usize),
            Value::Float4Array(values) => array_datum(pg_sys::FLOAT4OID, values),
            Value::Int4Array(values) => array_datum(pg_sys::INT4OID, values),
            Value::Int8Array(values) => array_datum(pg_sys::INT8OID, values),
        }
    }
}

impl TableWriter {
    /// Opens the table `relid` for writing rows of `columns` (names, in table order).
    pub fn open(relid: pg_sys::Oid, columns: &[&str]) -> TableWriter {
        // SAFETY: plain catalog and relcache access on the backend's main thread; the relation
        // stays open (and locked) until finish() or the end of the transaction.
        unsafe {
            let rel = pg_sys::table_open(relid, pg_sys::RowExclusiveLock as pg_sys::LOCKMODE);
            let form = &*(*rel).rd_rel;
            let tupdesc = (*rel).rd_att;
            let natts = (*tupdesc).natts as usize;
            let attrs = (*tupdesc).attrs.as_slice(natts);
            let names_match = natts == columns.len()
                && attrs.iter().zip(columns).all(|(a, name)| {
                    !a.attisdropped && pg_sys::name_data_to_str(&a.attname) == *name
                });
            let fresh = (*rel).rd_createSubid != 0; // InvalidSubTransactionId
            if form.relkind as u8 != pg_sys::RELKIND_RELATION
                || form.relhasindex
                || form.relhastriggers
                || !fresh
                || !names_match
            {
                errors::raise(
                    pgrx::PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!(
                        "reco: table {} is not a table of this refresh with columns ({})",
                        pg_sys::name_data_to_str(&form.relname),
                        columns.join(", ")
                    ),
                    Some("The model tables are created by reco.refresh() itself; do not change the definitions of reco.model_* or their partitions."),
                );
            }
            let ops = pg_sys::table_slot_callbacks(rel);
            let slots = (0..WRITER_BATCH)
                .map(|_| pg_sys::MakeSingleTupleTableSlot(tupdesc, ops))
                .collect();
            TableWriter {
                rel,
                slots,
                filled: 0,
                bistate: pg_sys::GetBulkInsertState(),
                cid: pg_sys::GetCurrentCommandId(true),
                batch_memory: pgrx::PgMemoryContexts::new("reco table writer batch"),
            }
        }
    }

    /// Adds one row; `values` in the column order given to open(), none NULL.
    pub fn write_row(&mut self, values: &[Value]) {
        let slot = self.slots[self.filled];
        // SAFETY: the slot belongs to this writer's relation and is empty (fresh, or cleared by
        // flush()); its arrays have one entry per column.
        unsafe {
            let tupdesc = (*slot).tts_tupleDescriptor;
            let natts = (*tupdesc).natts as usize;
            let attrs = (*tupdesc).attrs.as_slice(natts);
            assert_eq!(values.len(), natts, "one value per column");
            let out = std::slice::from_raw_parts_mut((*slot).tts_values, natts);
            let nulls = std::slice::from_raw_parts_mut((*slot).tts_isnull, natts);
            self.batch_memory.switch_to(|_| {
                for (i, v) in values.iter().enumerate() {
                    if v.type_oid() != attrs[i].atttypid {
                        errors::raise(
                            pgrx::PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                            format!(
                                "reco: column {} of the model table has an unexpected type",
                                pg_sys::name_data_to_str(&attrs[i].attname)
                            ),
                            None,
                        );
                    }
                    out[i] = v.datum();
                    nulls[i] = false;
                }
            });
            pg_sys::ExecStoreVirtualTuple(slot);
        }
        self.filled += 1;
        if self.filled == WRITER_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.filled == 0 {
            return;
        }
        // SAFETY: the first `filled` slots hold complete rows of `rel`; multi_insert copies them
        // into the table's pages, after which the slots and the batch's memory can be reused.
        unsafe {
            let multi_insert = (*(*self.rel).rd_tableam)
                .multi_insert
                .expect("every table access method has multi_insert");
            multi_insert(
                self.rel,
                self.slots.as_mut_ptr(),
                self.filled as c_int,
                self.cid,
                pg_sys::TABLE_INSERT_SKIP_FSM as c_int,
                self.bistate,
            );
            for &slot in &self.slots[..self.filled] {
                pg_sys::ExecClearTuple(slot);
            }
            self.batch_memory.reset();
        }
        self.filled = 0;
        check_for_interrupts!();
    }

    /// Writes the remaining rows and releases the writer; the rows are visible to the
    /// transaction's next command. (On an error before this, the transaction's abort releases
    /// everything, as for any statement.)
    pub fn finish(mut self) {
        self.flush();
        // SAFETY: releases what open() acquired, on the same relation; the lock is kept until
        // the end of the transaction (NoLock on close), as the executor does.
        unsafe {
            if let Some(finish) = (*(*self.rel).rd_tableam).finish_bulk_insert {
                finish(self.rel, pg_sys::TABLE_INSERT_SKIP_FSM as c_int);
            }
            pg_sys::FreeBulkInsertState(self.bistate);
            // With wal_level = minimal the new table is not WAL-logged: the commit must write
            // its dirty buffers out and fsync the file. Writing the buffers now and asking the
            // kernel to start writeback (sync_file_range) lets the disk work while refresh()
            // goes on with the other tables, instead of at the commit, where it took 0.23 s of
            // a tier M refresh. Under replica or logical the WAL protects the rows and the
            // buffers can wait for a checkpoint, so nothing is written early.
            if pg_sys::wal_level < pg_sys::WalLevel::WAL_LEVEL_REPLICA as c_int {
                pg_sys::FlushRelationBuffers(self.rel);
                let smgr = pg_sys::RelationGetSmgr(self.rel);
                let blocks = pg_sys::smgrnblocks(smgr, pg_sys::ForkNumber::MAIN_FORKNUM);
                pg_sys::smgrwriteback(smgr, pg_sys::ForkNumber::MAIN_FORKNUM, 0, blocks);
            }
            for &slot in &self.slots {
                pg_sys::ExecDropSingleTupleTableSlot(slot);
            }
            pg_sys::table_close(self.rel, pg_sys::NoLock as pg_sys::LOCKMODE);
            pg_sys::CommandCounterIncrement();
        }
    }
}

/// A one-dimensional, NULL-free array of 4- or 8-byte pass-by-value values (float4, int4, int8)
/// in the current memory context, laid out as construct_array() lays it out: the ArrayType
/// header, the dimension and lower bound 1 (ARR_OVERHEAD_NONULLS(1) = 24 bytes, a multiple of 8,
/// so 8-byte elements are aligned as their type's 'd' alignment requires), then the values.
/// Built directly because construct_array() goes through a Datum per element: 2.5% of a tier M
/// refresh for the 95k user rows. An empty array is Postgres's empty array (no dimensions).
fn array_datum<T: Copy>(elem: pg_sys::Oid, values: &[T]) -> pg_sys::Datum {
    const HEADER: usize = 24;
    const _: () = assert!(std::mem::size_of::<pg_sys::ArrayType>() + 2 * 4 == HEADER);
    let size = std::mem::size_of::<T>();
    assert!(size == 4 || size == 8, "4- or 8-byte elements only");
    // SAFETY: a fresh palloc of the exact size (palloc's result is MAXALIGNed, so the values at
    // offset 24 are 8-aligned), every byte of it written below; the layout is that of a
    // one-dimensional array without a null bitmap (src/include/utils/array.h). The element type
    // `elem` is the Postgres type of T (float4/int4 for 4 bytes, int8 for 8), by the callers.
    unsafe {
        if values.is_empty() {
            return pg_sys::Datum::from(pg_sys::construct_empty_array(elem));
        }
        let bytes = HEADER + std::mem::size_of_val(values);
        let len = i32::try_from(bytes).expect("arrays hold far fewer than 2^29 values");
        let ptr = pg_sys::palloc(bytes) as *mut u8;
        let header = ptr as *mut pg_sys::ArrayType;
        pgrx::varlena::set_varsize_4b(ptr as *mut pg_sys::varlena, len);
        (*header).ndim = 1;
        (*header).dataoffset = 0; // no null bitmap
        (*header).elemtype = elem;
        let dims = ptr.add(std::mem::size_of::<pg_sys::ArrayType>()) as *mut i32;
        *dims = values.len() as i32; // dimension
        *dims.add(1) = 1; // lower bound
        std::ptr::copy_nonoverlapping(
            values.as_ptr() as *const u8,
            ptr.add(HEADER),
            std::mem::size_of_val(values),
        );
        pg_sys::Datum::from(ptr)
    }
}
