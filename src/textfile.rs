//! Reading the engine's own text inputs (pipeline files, samples tables) with a size limit: a path
//! that names a device (`include: /dev/zero`) or an absurdly large file is refused instead of being
//! read into memory without bound.

use std::io::Read;
use std::path::Path;

/// Largest pipeline file or samples table read (bytes): far above any real one.
pub const MAX_TEXT_BYTES: u64 = 64 << 20;

/// The UTF-8 text of a regular file of at most [`MAX_TEXT_BYTES`]; the error says why not.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_TEXT_BYTES {
        return Err(std::io::Error::other(format!(
            "{} bytes, more than the limit of {MAX_TEXT_BYTES}",
            meta.len()
        )));
    }
    // `take` also bounds a file that grows while it is read.
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_TEXT_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_TEXT_BYTES {
        return Err(std::io::Error::other(format!(
            "more than the limit of {MAX_TEXT_BYTES} bytes"
        )));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_and_refuses_devices_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.yaml");
        std::fs::write(&p, "name: x\n").unwrap();
        assert_eq!(read_text(&p).unwrap(), "name: x\n");
        let e = read_text(Path::new("/dev/zero")).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_text(dir.path()).is_err());
        assert!(read_text(&dir.path().join("missing")).is_err());
    }
}
