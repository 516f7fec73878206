//! Bounds-checked, byte-order-aware field access on a byte slice. Every read returns a
//! `Result` naming the field, the offset and how many bytes were there: no read can panic.

use crate::error::ImError;
use crate::header::ByteOrder;

pub(crate) struct Fields<'a> {
    pub buf: &'a [u8],
    pub order: ByteOrder,
    pub file: &'a str,
    /// What `buf` is, for error messages ("header", "file").
    pub scope: &'static str,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8], order: ByteOrder, file: &'a str, scope: &'static str) -> Self {
        Fields {
            buf,
            order,
            file,
            scope,
        }
    }

    pub fn slice(&self, off: usize, len: usize, what: &str) -> Result<&'a [u8], ImError> {
        match off.checked_add(len) {
            Some(end) if end <= self.buf.len() => Ok(&self.buf[off..end]),
            _ => Err(ImError::Truncated {
                file: self.file.to_string(),
                what: what.to_string(),
                offset: off as u64,
                needed: len as u64,
                available: self.buf.len().saturating_sub(off) as u64,
                scope: self.scope,
            }),
        }
    }

    fn arr<const N: usize>(&self, off: usize, what: &str) -> Result<[u8; N], ImError> {
        let s = self.slice(off, N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn i32(&self, off: usize, what: &str) -> Result<i32, ImError> {
        let a = self.arr::<4>(off, what)?;
        Ok(match self.order {
            ByteOrder::Little => i32::from_le_bytes(a),
            ByteOrder::Big => i32::from_be_bytes(a),
        })
    }

    pub fn i16(&self, off: usize, what: &str) -> Result<i16, ImError> {
        let a = self.arr::<2>(off, what)?;
        Ok(match self.order {
            ByteOrder::Little => i16::from_le_bytes(a),
            ByteOrder::Big => i16::from_be_bytes(a),
        })
    }

    pub fn f64(&self, off: usize, what: &str) -> Result<f64, ImError> {
        let a = self.arr::<8>(off, what)?;
        Ok(match self.order {
            ByteOrder::Little => f64::from_le_bytes(a),
            ByteOrder::Big => f64::from_be_bytes(a),
        })
    }

    /// A NUL-terminated latin-1 string in a fixed-size field (garbage after the NUL is
    /// ignored), trimmed of surrounding whitespace.
    pub fn string(&self, off: usize, len: usize, what: &str) -> Result<String, ImError> {
        Ok(latin1_cstr(self.slice(off, len, what)?))
    }

    pub fn opt_i32(&self, off: usize) -> Option<i32> {
        self.i32(off, "").ok()
    }

    pub fn opt_f64(&self, off: usize) -> Option<f64> {
        self.f64(off, "").ok()
    }
}

/// Bytes up to the first NUL, decoded as latin-1 and trimmed.
pub(crate) fn latin1_cstr(bytes: &[u8]) -> String {
    let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
    let s: String = bytes[..end].iter().map(|&b| b as char).collect();
    s.trim().to_string()
}
