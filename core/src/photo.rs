//! What a photo is, the same on the phone and on the server: its name (the SHA-256 of its
//! bytes, lowercase hex), its type (sniffed from its first bytes, never from a file name)
//! and its size cap. A leaf module: the store keeps photos with it, the sync client sends
//! them with it, the server checks uploads with it.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{Result, ValidationError};

/// Largest photo, in bytes, a device attaches and the server accepts.
pub const MAX_BLOB_BYTES: u64 = 20 << 20;

/// Bytes of a photo's start that [`sniff_mime`] needs.
pub const SNIFF_BYTES: usize = 32;

/// A photo's name: the SHA-256 of its bytes in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Whether `s` is a photo's name: a SHA-256 in lowercase hex.
pub fn is_blob_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The photo type from its first bytes (not its file name): JPEG, PNG, WebP or HEIC/HEIF.
pub fn sniff_mime(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some("image/jpeg");
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("image/png");
    }
    if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Some("image/webp");
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => Some("image/heic"),
            b"mif1" | b"msf1" => Some("image/heif"),
            _ => None,
        };
    }
    None
}

/// Refuses a photo over [`MAX_BLOB_BYTES`].
pub fn check_size(len: u64) -> Result<(), ValidationError> {
    if len > MAX_BLOB_BYTES {
        return Err(ValidationError::PhotoTooLarge {
            size: len,
            max: MAX_BLOB_BYTES,
        });
    }
    Ok(())
}

/// SHA-256 (hex), length and first [`SNIFF_BYTES`] bytes of a file, read in pieces.
pub fn hash_file(path: &Path) -> Result<(String, u64, Vec<u8>)> {
    let mut f = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    let mut head = Vec::new();
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if head.len() < SNIFF_BYTES {
            head.extend_from_slice(&buf[..n.min(SNIFF_BYTES - head.len())]);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn photo_types_come_from_their_bytes() {
        assert_eq!(sniff_mime(&[0xFF, 0xD8, 0xFF, 0xE1]), Some("image/jpeg"));
        assert_eq!(sniff_mime(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_mime(b"\0\0\0\x18ftypheic\0\0"), Some("image/heic"));
        assert_eq!(sniff_mime(b"\0\0\0\x18ftypmp42\0\0"), None);
        assert_eq!(sniff_mime(b"GIF89a"), None);
        assert_eq!(sniff_mime(b""), None);
    }

    #[test]
    fn names_are_lowercase_sha256_and_sizes_are_capped() {
        assert!(is_blob_hash(&"a".repeat(64)));
        assert!(!is_blob_hash(&"A".repeat(64)));
        assert!(!is_blob_hash("../etc/passwd"));
        assert!(is_blob_hash(&sha256_hex(b"x")));
        assert!(check_size(MAX_BLOB_BYTES).is_ok());
        assert!(check_size(MAX_BLOB_BYTES + 1).is_err());
    }
}
