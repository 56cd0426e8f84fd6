//! Tagged fields (KIP-482): unknown ones are kept and re-encoded; known ones are written in
//! ascending tag order after a struct's regular fields.

use bytes::{BufMut, Bytes, BytesMut};

use crate::primitives::{read_uvarint, write_uvarint};
use crate::{Error, Result};

/// A tagged field this codec does not know, kept byte for byte so that re-encoding the message
/// reproduces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTaggedField {
    /// The tag.
    pub tag: u32,
    /// The field's encoded value (without tag and size).
    pub data: Bytes,
}

/// Reads the header of one tagged field: its tag and a slice of exactly its size.
#[inline]
pub fn read_tagged_field(buf: &mut Bytes, at: &'static str) -> Result<(u32, Bytes)> {
    let tag = read_uvarint(buf, at)?;
    let size = read_uvarint(buf, at)? as usize;
    if size > buf.len() {
        return Err(Error::InvalidLength { at, length: size as i64, remaining: buf.len() });
    }
    Ok((tag, buf.split_to(size)))
}

/// Collects the tagged fields of one struct while it is encoded, then writes them in tag order
/// merged with the unknown ones. Allocates only when a known tagged field has a non-default value.
pub struct TaggedWriter<'a> {
    known: Vec<(u32, BytesMut)>,
    unknown: &'a [RawTaggedField],
}

impl<'a> TaggedWriter<'a> {
    /// Starts a tagged section that will also carry `unknown`.
    #[inline]
    pub fn new(unknown: &'a [RawTaggedField]) -> Self {
        TaggedWriter { known: Vec::new(), unknown }
    }

    /// Encodes one known tagged field with `f` into its own buffer.
    pub fn field(&mut self, tag: u32, f: impl FnOnce(&mut BytesMut) -> Result<()>) -> Result<()> {
        let mut b = BytesMut::new();
        f(&mut b)?;
        self.known.push((tag, b));
        Ok(())
    }

    /// Writes the count and every field in ascending tag order.
    pub fn finish(self, buf: &mut BytesMut) -> Result<()> {
        let count = self.known.len() + self.unknown.len();
        write_uvarint(buf, count as u32);
        if count == 0 {
            return Ok(());
        }
        let mut all: Vec<(u32, &[u8])> = Vec::with_capacity(count);
        all.extend(self.known.iter().map(|(t, b)| (*t, &b[..])));
        all.extend(self.unknown.iter().map(|f| (f.tag, &f.data[..])));
        all.sort_by_key(|(t, _)| *t);
        for (tag, data) in all {
            write_uvarint(buf, tag);
            write_uvarint(buf, data.len() as u32);
            buf.put_slice(data);
        }
        Ok(())
    }
}
