//! Reading and writing the protocol's primitive types.
//!
//! Readers take `&mut Bytes` and advance it; they check the remaining length before every read
//! and before every allocation, so a claimed length can never make them allocate more than the
//! input could justify. Byte and record fields are zero-copy slices of the input. Writers append
//! to a `BytesMut`. Every function takes `at`, the field being read or written, for errors.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{Error, Result, Uuid};

#[inline]
fn need(buf: &Bytes, n: usize, at: &'static str) -> Result<()> {
    if buf.remaining() < n {
        Err(Error::Truncated { at, needed: n, remaining: buf.remaining() })
    } else {
        Ok(())
    }
}

/// Reads a boolean (one byte, non-zero is true, as the Java client reads it).
#[inline]
pub fn read_bool(buf: &mut Bytes, at: &'static str) -> Result<bool> {
    need(buf, 1, at)?;
    Ok(buf.get_u8() != 0)
}

macro_rules! fixed {
    ($read:ident, $write:ident, $ty:ty, $get:ident, $put:ident) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $read(buf: &mut Bytes, at: &'static str) -> Result<$ty> {
            need(buf, std::mem::size_of::<$ty>(), at)?;
            Ok(buf.$get())
        }
        #[doc = concat!("Writes a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $write(buf: &mut BytesMut, v: $ty) {
            buf.$put(v);
        }
    };
}
fixed!(read_i8, write_i8, i8, get_i8, put_i8);
fixed!(read_i16, write_i16, i16, get_i16, put_i16);
fixed!(read_u16, write_u16, u16, get_u16, put_u16);
fixed!(read_i32, write_i32, i32, get_i32, put_i32);
fixed!(read_u32, write_u32, u32, get_u32, put_u32);
fixed!(read_i64, write_i64, i64, get_i64, put_i64);
fixed!(read_f64, write_f64, f64, get_f64, put_f64);

/// Writes a boolean as one byte.
#[inline]
pub fn write_bool(buf: &mut BytesMut, v: bool) {
    buf.put_u8(v as u8);
}

/// Reads a 16-byte UUID.
#[inline]
pub fn read_uuid(buf: &mut Bytes, at: &'static str) -> Result<Uuid> {
    need(buf, 16, at)?;
    let mut b = [0u8; 16];
    buf.copy_to_slice(&mut b);
    Ok(Uuid(b))
}

/// Writes a 16-byte UUID.
#[inline]
pub fn write_uuid(buf: &mut BytesMut, v: &Uuid) {
    buf.put_slice(&v.0);
}

/// Reads an unsigned LEB128 varint of at most 5 bytes (Kafka's `readUnsignedVarint`).
#[inline]
pub fn read_uvarint(buf: &mut Bytes, at: &'static str) -> Result<u32> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1, at)?;
        let b = buf.get_u8();
        if i == 4 && b > 0x0f {
            return Err(Error::InvalidVarint { at });
        }
        value |= ((b & 0x7f) as u32) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::InvalidVarint { at })
}

/// Reads an unsigned LEB128 varint of at most 10 bytes.
#[inline]
pub fn read_uvarlong(buf: &mut Bytes, at: &'static str) -> Result<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        need(buf, 1, at)?;
        let b = buf.get_u8();
        if i == 9 && b > 0x01 {
            return Err(Error::InvalidVarint { at });
        }
        value |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(Error::InvalidVarint { at })
}

/// Reads a zigzag-encoded signed varint (32-bit).
#[inline]
pub fn read_varint(buf: &mut Bytes, at: &'static str) -> Result<i32> {
    let v = read_uvarint(buf, at)?;
    Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
}

/// Reads a zigzag-encoded signed varlong (64-bit).
#[inline]
pub fn read_varlong(buf: &mut Bytes, at: &'static str) -> Result<i64> {
    let v = read_uvarlong(buf, at)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

/// Writes an unsigned LEB128 varint.
#[inline]
pub fn write_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes an unsigned LEB128 varlong.
#[inline]
pub fn write_uvarlong(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes a zigzag-encoded signed varint.
#[inline]
pub fn write_varint(buf: &mut BytesMut, v: i32) {
    write_uvarint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

/// Writes a zigzag-encoded signed varlong.
#[inline]
pub fn write_varlong(buf: &mut BytesMut, v: i64) {
    write_uvarlong(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// The encoded size of an unsigned varint.
#[inline]
pub fn uvarint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// The encoded size of a zigzag varint.
#[inline]
pub fn varint_len(v: i32) -> usize {
    uvarint_len(((v << 1) ^ (v >> 31)) as u32)
}

/// The encoded size of a zigzag varlong.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while u >= 0x80 {
        u >>= 7;
        n += 1;
    }
    n
}

/// Reads a length prefix: `int16`/`int32` (classic) or an unsigned varint holding length + 1
/// (compact). Returns `None` for null. The length is checked against the remaining bytes
/// (times `min_item_size`), so no caller can be made to allocate more than the input justifies.
#[inline]
fn read_len(
    buf: &mut Bytes,
    compact: bool,
    wide: bool,
    min_item_size: usize,
    at: &'static str,
) -> Result<Option<usize>> {
    let len: i64 = if compact {
        read_uvarint(buf, at)? as i64 - 1
    } else if wide {
        read_i32(buf, at)? as i64
    } else {
        read_i16(buf, at)? as i64
    };
    if len < -1 {
        return Err(Error::InvalidLength { at, length: len, remaining: buf.remaining() });
    }
    if len == -1 {
        return Ok(None);
    }
    let len = len as usize;
    if len.saturating_mul(min_item_size) > buf.remaining() {
        return Err(Error::InvalidLength { at, length: len as i64, remaining: buf.remaining() });
    }
    Ok(Some(len))
}

/// Reads a nullable string (`STRING`/`NULLABLE_STRING`, or their compact forms).
#[inline]
pub fn read_string(buf: &mut Bytes, compact: bool, at: &'static str) -> Result<Option<String>> {
    match read_len(buf, compact, false, 1, at)? {
        None => Ok(None),
        Some(n) => {
            let s = std::str::from_utf8(&buf[..n]).map_err(|_| Error::InvalidUtf8 { at })?.to_owned();
            buf.advance(n);
            Ok(Some(s))
        }
    }
}

/// Reads a nullable byte string (`BYTES`/`NULLABLE_BYTES`/`RECORDS`, or compact), zero-copy.
#[inline]
pub fn read_bytes(buf: &mut Bytes, compact: bool, at: &'static str) -> Result<Option<Bytes>> {
    match read_len(buf, compact, true, 1, at)? {
        None => Ok(None),
        Some(n) => Ok(Some(buf.split_to(n))),
    }
}

/// Reads an array length (`None` for a null array). A length larger than the remaining bytes
/// is an error: every element takes at least one byte (as in Kafka's own generated readers).
#[inline]
pub fn read_array_len(buf: &mut Bytes, compact: bool, at: &'static str) -> Result<Option<usize>> {
    read_len(buf, compact, true, 1, at)
}

/// Writes a length prefix (see [`read_array_len`]); `None` writes the null marker.
#[inline]
fn write_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    compact: bool,
    wide: bool,
    at: &'static str,
) -> Result<()> {
    let max = if compact {
        u32::MAX as usize - 1
    } else if wide {
        i32::MAX as usize
    } else {
        i16::MAX as usize
    };
    match len {
        None if compact => write_uvarint(buf, 0),
        None if wide => write_i32(buf, -1),
        None => write_i16(buf, -1),
        Some(n) if n > max => return Err(Error::ValueTooLarge { at, length: n, max }),
        Some(n) if compact => write_uvarint(buf, n as u32 + 1),
        Some(n) if wide => write_i32(buf, n as i32),
        Some(n) => write_i16(buf, n as i16),
    }
    Ok(())
}

/// Writes a nullable string.
#[inline]
pub fn write_string(buf: &mut BytesMut, v: Option<&str>, compact: bool, at: &'static str) -> Result<()> {
    write_len(buf, v.map(str::len), compact, false, at)?;
    if let Some(s) = v {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

/// Writes a nullable byte string.
#[inline]
pub fn write_bytes(buf: &mut BytesMut, v: Option<&[u8]>, compact: bool, at: &'static str) -> Result<()> {
    write_len(buf, v.map(<[u8]>::len), compact, true, at)?;
    if let Some(b) = v {
        buf.put_slice(b);
    }
    Ok(())
}

/// Writes an array length; `None` writes the null marker.
#[inline]
pub fn write_array_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    compact: bool,
    at: &'static str,
) -> Result<()> {
    write_len(buf, len, compact, true, at)
}

/// Reads the int8 marker Kafka writes before a nullable struct: -1 for null, 1 for present.
#[inline]
pub fn read_struct_marker(buf: &mut Bytes, at: &'static str) -> Result<bool> {
    Ok(read_i8(buf, at)? >= 0)
}

/// How many elements to reserve for an array that claims `n` elements: never more than 64 KiB
/// worth up front, whatever the claim; the vector grows as elements actually decode, each of
/// which consumes input.
#[inline]
pub fn prealloc<T>(n: usize) -> usize {
    n.min((64 * 1024) / std::mem::size_of::<T>().max(1))
}
