//! Transparent decompression of `.im.gz`, `.im.bz2` and `.zip` (one `.im` inside), detected by
//! magic bytes. Output is capped so that a small hostile input cannot make the reader allocate
//! without bound.

use std::io::{Cursor, Read};

use serde::Serialize;

use crate::error::ImError;
use crate::header::MAX_DATA_BYTES;

/// How the file was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Zip,
}

/// Largest decompressed size accepted: the pixel limit plus room for a header.
pub const MAX_DECOMPRESSED_BYTES: u64 = MAX_DATA_BYTES + (64 << 20);

pub(crate) fn detect(bytes: &[u8]) -> Compression {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if bytes.starts_with(b"BZh") {
        Compression::Bzip2
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        Compression::Zip
    } else {
        Compression::None
    }
}

/// Decompresses `bytes` if they are gzip, bzip2 or zip. Returns `None` for a plain file,
/// otherwise the content, the compression found and the name to use in messages from now on
/// (`archive.zip!member.im` for zip members).
pub(crate) fn unpack(
    bytes: &[u8],
    name: &str,
) -> Result<Option<(Vec<u8>, Compression, String)>, ImError> {
    Ok(Some(match detect(bytes) {
        Compression::None => return Ok(None),
        Compression::Gzip => {
            let hint = gzip_size_hint(bytes);
            let r = flate2::read::MultiGzDecoder::new(bytes);
            let out = read_capped(r, hint, name, "gzip")?;
            (out, Compression::Gzip, name.to_string())
        }
        Compression::Bzip2 => {
            let hint = bytes.len().saturating_mul(4);
            let r = bzip2::read::MultiBzDecoder::new(bytes);
            let out = read_capped(r, hint, name, "bzip2")?;
            (out, Compression::Bzip2, name.to_string())
        }
        Compression::Zip => unzip(bytes, name)?,
    }))
}

/// Capacity hint from the gzip trailer (size mod 2³²), bounded by a plausible ratio so that
/// a forged trailer cannot trigger a big allocation.
fn gzip_size_hint(bytes: &[u8]) -> usize {
    let n = bytes.len();
    let isize = if n >= 4 {
        u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]) as usize
    } else {
        0
    };
    isize.min(n.saturating_mul(64).saturating_add(1 << 20))
}

fn read_capped<R: Read>(
    r: R,
    hint: usize,
    name: &str,
    format: &'static str,
) -> Result<Vec<u8>, ImError> {
    let mut out = Vec::with_capacity(hint);
    let mut limited = r.take(MAX_DECOMPRESSED_BYTES + 1);
    limited
        .read_to_end(&mut out)
        .map_err(|e| ImError::Decompress {
            file: name.to_string(),
            format,
            reason: e.to_string(),
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(ImError::LimitExceeded {
            file: name.to_string(),
            what: format!("{format} content larger than {MAX_DECOMPRESSED_BYTES} bytes"),
            limit: format!("{MAX_DECOMPRESSED_BYTES} bytes"),
        });
    }
    Ok(out)
}

fn unzip(bytes: &[u8], name: &str) -> Result<(Vec<u8>, Compression, String), ImError> {
    let err = |reason: String| ImError::Decompress {
        file: name.to_string(),
        format: "zip",
        reason,
    };
    let total = bytes.len() as u64;
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| err(e.to_string()))?;
    let mut files = Vec::new();
    let mut ims = Vec::new();
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| err(e.to_string()))?;
        if entry.is_dir() {
            continue;
        }
        let n = entry.name().map_err(|e| err(e.to_string()))?.to_string();
        if n.to_ascii_lowercase().ends_with(".im") {
            ims.push((i, n.clone()));
        }
        files.push((i, n));
    }
    let (index, member) = match (ims.len(), files.len()) {
        (1, _) => ims.remove(0),
        (0, 1) => files.remove(0),
        (0, 0) => return Err(err("the archive holds no file".to_string())),
        (0, n) => {
            return Err(err(format!(
                "the archive holds {n} files and none ends in .im: {}",
                list(&files)
            )));
        }
        (n, _) => {
            return Err(err(format!(
                "the archive holds {n} .im files ({}); expected exactly one",
                list(&ims)
            )));
        }
    };
    let full_name = format!("{name}!{member}");
    let entry = archive.by_index(index).map_err(|e| err(e.to_string()))?;
    if entry.size() > MAX_DECOMPRESSED_BYTES {
        return Err(ImError::LimitExceeded {
            file: full_name,
            what: format!("zip member of {} bytes", entry.size()),
            limit: format!("{MAX_DECOMPRESSED_BYTES} bytes"),
        });
    }
    let hint = entry
        .size()
        .min(entry.compressed_size().min(total).saturating_mul(1100)) as usize;
    let out = read_capped(entry, hint, &full_name, "zip")?;
    Ok((out, Compression::Zip, full_name))
}

fn list(v: &[(usize, String)]) -> String {
    let mut names: Vec<&str> = v.iter().take(5).map(|(_, n)| n.as_str()).collect();
    if v.len() > 5 {
        names.push("…");
    }
    names.join(", ")
}
