//! Minimal, fast CSV writer (RFC 4180 quoting, PostgreSQL COPY csv conventions:
//! empty unquoted field = NULL, booleans t/f, timestamps `YYYY-MM-DD HH:MM:SS+00`).

use crate::catalog::{BRANDS, GENDERS, MATERIALS, TYPES};
use crate::gen::{unpack, Packed, Shoe, User, ACTIONS};
use crate::time::{format_ts, write_day, write_time, DAY};
use std::io::{self, Write};

const FLUSH_AT: usize = 1 << 20;

/// Byte buffer flushed to the underlying writer in ~1 MiB chunks.
pub struct CsvOut<W: Write> {
    buf: Vec<u8>,
    w: W,
}

impl<W: Write> CsvOut<W> {
    pub fn new(w: W) -> Self {
        CsvOut {
            buf: Vec::with_capacity(FLUSH_AT + 4096),
            w,
        }
    }

    #[inline]
    fn maybe_flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn finish(mut self) -> io::Result<W> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        self.w.flush()?;
        Ok(self.w)
    }

    #[inline]
    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    #[inline]
    fn u64(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&tmp[i..]);
    }

    /// Text field with RFC 4180 quoting when needed. (Never empty here: "" would be quoted.)
    fn text(&mut self, s: &str) {
        push_field(&mut self.buf, s);
    }

    fn ts(&mut self, secs: i64) {
        let mut b = [0u8; 22];
        format_ts(secs, &mut b);
        self.buf.extend_from_slice(&b);
    }

    fn price(&mut self, cents: u32) {
        self.u64((cents / 100) as u64);
        self.buf.push(b'.');
        let c = cents % 100;
        self.buf.push(b'0' + (c / 10) as u8);
        self.buf.push(b'0' + (c % 10) as u8);
    }
}

/// Appends `s` as one CSV field: quoted (with doubled quotes) if it contains a comma,
/// a double quote, CR or LF, or is empty (an empty quoted field is '' rather than NULL in COPY).
pub fn push_field(buf: &mut Vec<u8>, s: &str) {
    let needs = s.is_empty() || s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !needs {
        buf.extend_from_slice(s.as_bytes());
        return;
    }
    buf.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

pub const USERS_HEADER: &str = "user_id,age,gender,primary_usage,created_at\n";
pub const SHOES_HEADER: &str = "shoe_id,name,brand,type,material,color,price,description,care_instructions,lifespan_days,active,created_at\n";
pub const INTERACTIONS_HEADER: &str = "interaction_id,user_id,shoe_id,action,occurred_at\n";

pub fn write_users<W: Write>(w: W, users: &[User]) -> io::Result<W> {
    let mut o = CsvOut::new(w);
    o.raw(USERS_HEADER.as_bytes());
    for u in users {
        o.u64(u.id as u64);
        o.raw(b",");
        if let Some(a) = u.age {
            o.u64(a as u64);
        }
        o.raw(b",");
        if let Some(g) = u.gender {
            o.text(GENDERS[g as usize]);
        }
        o.raw(b",");
        if u.usage_visible {
            o.text(TYPES[u.hidden_type as usize]);
        }
        o.raw(b",");
        o.ts(u.created_at);
        o.raw(b"\n");
        o.maybe_flush()?;
    }
    o.finish()
}

pub fn write_shoes<W: Write>(w: W, shoes: &[Shoe]) -> io::Result<W> {
    let mut o = CsvOut::new(w);
    o.raw(SHOES_HEADER.as_bytes());
    for s in shoes {
        o.u64(s.id as u64);
        o.raw(b",");
        o.text(&s.name);
        o.raw(b",");
        o.text(BRANDS[s.brand as usize].name);
        o.raw(b",");
        o.text(TYPES[s.typ as usize]);
        o.raw(b",");
        o.text(MATERIALS[s.material as usize]);
        o.raw(b",");
        o.text(s.color);
        o.raw(b",");
        o.price(s.price_cents);
        o.raw(b",");
        o.text(&s.description);
        o.raw(b",");
        o.text(&s.care);
        o.raw(b",");
        o.u64(s.lifespan_days as u64);
        o.raw(if s.active { b",t," } else { b",f," });
        o.ts(s.created_at);
        o.raw(b"\n");
        o.maybe_flush()?;
    }
    o.finish()
}

/// Interactions must be sorted by time (as gen_interactions returns them): the date part of
/// the timestamp is cached per day.
pub fn write_interactions<W: Write>(w: W, inter: &[Packed]) -> io::Result<W> {
    let mut o = CsvOut::new(w);
    o.raw(INTERACTIONS_HEADER.as_bytes());
    let mut cur_day = i64::MIN;
    let mut day_buf = [0u8; 11];
    let mut time_buf = [0u8; 11];
    let action_fields: [&[u8]; 3] = [b",view,", b",add_to_wishlist,", b",purchase,"];
    debug_assert_eq!(ACTIONS.len(), action_fields.len());
    for (i, &p) in inter.iter().enumerate() {
        let (t, uid, sid, a) = unpack(p);
        let day = t.div_euclid(DAY);
        if day != cur_day {
            cur_day = day;
            write_day(day, &mut day_buf);
        }
        write_time(t.rem_euclid(DAY) as u32, &mut time_buf);
        o.u64(i as u64 + 1);
        o.raw(b",");
        o.u64(uid as u64);
        o.raw(b",");
        o.u64(sid as u64);
        o.raw(action_fields[a as usize]);
        o.raw(&day_buf);
        o.raw(&time_buf);
        o.raw(b"\n");
        o.maybe_flush()?;
    }
    o.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        let mut b = Vec::new();
        push_field(&mut b, "plain");
        b.push(b'|');
        push_field(&mut b, "a, b");
        b.push(b'|');
        push_field(&mut b, "say \"hi\"");
        b.push(b'|');
        push_field(&mut b, "two\nlines");
        b.push(b'|');
        push_field(&mut b, "");
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "plain|\"a, b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"\""
        );
    }
}
