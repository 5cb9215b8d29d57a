//! Photos: files kept beside the database under their SHA-256, in `<db file>.blobs/`.
//!
//! Attaching copies the file into the blob directory (temp file, fsync, rename, fsync of the
//! directory) *before* the transaction that records the blob row and the reference to it.
//! A crash between the two leaves an unreferenced file, never a reference without a file.
//!
//! A blob is `local` until the server has all of it, then `uploaded`; one fetched from the
//! server is `cached`. Local blobs are never evicted; the others may be, least recently
//! used first, once they take more than the cache limit the app sets.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::cases::{create_in, record_in};
use super::inspections::answer_in;
use super::{Store, Txn};
use crate::case::{EventKind, NewCase};
use crate::error::{Error, Result, ValidationError};
use crate::inspection::AnswerValue;
use crate::photo::{SNIFF_BYTES, check_size, hash_file, is_blob_hash, sniff_mime};

/// Bytes of uploaded and cached blobs kept before the least recently used are evicted,
/// unless the app sets another limit.
pub const DEFAULT_CACHE_BYTES: u64 = 200 << 20;

/// Where a blob stands on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobState {
    /// Made here and not yet complete on the server: never evicted.
    Local,
    /// Made here and complete on the server: may be evicted.
    Uploaded,
    /// Fetched from the server: may be evicted.
    Cached,
}

impl BlobState {
    pub fn as_str(self) -> &'static str {
        match self {
            BlobState::Local => "local",
            BlobState::Uploaded => "uploaded",
            BlobState::Cached => "cached",
        }
    }

    fn parse(s: &str) -> Result<BlobState> {
        match s {
            "local" => Ok(BlobState::Local),
            "uploaded" => Ok(BlobState::Uploaded),
            "cached" => Ok(BlobState::Cached),
            other => Err(Error::Corrupt(format!("unknown blob state {other}"))),
        }
    }
}

/// A blob this device holds.
#[derive(Debug, Clone, PartialEq)]
pub struct BlobInfo {
    pub hash: String,
    pub size: u64,
    pub mime: String,
    pub state: BlobState,
    /// Bytes the server last acknowledged (for a local blob's progress).
    pub uploaded: u64,
    /// 0 for life-safety cases; lower goes first.
    pub priority: i64,
}

/// A file copied into the blob directory, not yet referenced.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedBlob {
    pub hash: String,
    pub size: u64,
    pub mime: String,
}

impl Store {
    /// The directory holding this store's blobs.
    pub fn blob_dir(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".blobs");
        PathBuf::from(name)
    }

    /// Where the verified file of `hash` lives (it may not exist).
    pub(crate) fn blob_file(&self, hash: &str) -> PathBuf {
        self.blob_dir().join(hash)
    }

    /// Where a download of `hash` in progress collects its bytes.
    pub(crate) fn blob_part_file(&self, hash: &str) -> PathBuf {
        self.blob_dir().join(format!("{hash}.part"))
    }

    /// Copies a photo into the blob directory under its SHA-256 after checking its size and
    /// type (from its first bytes, not its name). Nothing references it yet.
    pub fn import_photo(&self, path: impl AsRef<Path>) -> Result<ImportedBlob> {
        let path = path.as_ref();
        let mut src = File::open(path)?;
        let len = src.metadata()?.len();
        check_size(len)?;
        let dir = self.blob_dir();
        fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".import-{}", uuid::Uuid::new_v4()));
        let result = (|| {
            let mut out = File::create(&tmp)?;
            let mut hasher = Sha256::new();
            let mut head = Vec::new();
            let mut buf = vec![0u8; 64 << 10];
            let mut total = 0u64;
            loop {
                let n = src.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                check_size(total)?;
                if head.len() < SNIFF_BYTES {
                    head.extend_from_slice(&buf[..n.min(SNIFF_BYTES - head.len())]);
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])?;
            }
            let mime = sniff_mime(&head)
                .ok_or_else(|| ValidationError::PhotoType(path.display().to_string()))?;
            out.sync_all()?;
            let hash = hex::encode(hasher.finalize());
            Ok(ImportedBlob {
                hash,
                size: total,
                mime: mime.to_string(),
            })
        })();
        match result {
            Ok(b) => {
                fs::rename(&tmp, self.blob_file(&b.hash))?;
                sync_dir(&dir)?;
                Ok(b)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Attaches the photo at `path` to a case: the copy, the blob row and the `photo_added`
    /// event. Returns the photo's hash.
    pub fn add_photo_to_case(&self, case_id: &str, path: impl AsRef<Path>) -> Result<String> {
        let b = self.import_photo(path)?;
        self.add_imported_photo_to_case(case_id, &b)
    }

    /// Attaches a photo already copied in by [`Store::import_photo`] to a case: its blob row
    /// and the `photo_added` event, in one transaction. Returns the photo's hash.
    pub fn add_imported_photo_to_case(&self, case_id: &str, b: &ImportedBlob) -> Result<String> {
        let kind = EventKind::PhotoAdded {
            hash: b.hash.clone(),
        };
        kind.validate(self.now())?;
        // The blob row goes in before the reference: a reference needs a photo on the device.
        self.write(|t| {
            let priority = doc_priority(t, case_id)?;
            insert_blob(t, b, BlobState::Local, priority)?;
            record_in(t, case_id, kind)
        })?;
        Ok(b.hash.clone())
    }

    /// Opens a case with photos attached from these files, in one transaction.
    pub fn create_case_with_photos(
        &self,
        mut c: NewCase,
        paths: &[impl AsRef<Path>],
    ) -> Result<String> {
        let blobs = paths
            .iter()
            .map(|p| self.import_photo(p))
            .collect::<Result<Vec<_>>>()?;
        c.attachments.extend(blobs.iter().map(|b| b.hash.clone()));
        c.validate()?;
        self.write(|t| {
            for b in &blobs {
                insert_blob(t, b, BlobState::Local, 9)?;
            }
            let id = create_in(t, &c)?;
            let priority = doc_priority(t, &id)?;
            for b in &blobs {
                insert_blob(t, b, BlobState::Local, priority)?;
            }
            Ok(id)
        })
    }

    /// Answers a checklist item with photos from these files, in one transaction.
    pub fn answer_with_photos(
        &self,
        inspection_id: &str,
        item_id: &str,
        value: AnswerValue,
        note: &str,
        paths: &[impl AsRef<Path>],
    ) -> Result<Vec<String>> {
        let blobs = paths
            .iter()
            .map(|p| self.import_photo(p))
            .collect::<Result<Vec<_>>>()?;
        let hashes: Vec<String> = blobs.iter().map(|b| b.hash.clone()).collect();
        self.write(|t| {
            let priority = doc_priority(t, inspection_id)?;
            for b in &blobs {
                insert_blob(t, b, BlobState::Local, priority)?;
            }
            answer_in(t, inspection_id, item_id, value, note, &hashes)
        })?;
        Ok(hashes)
    }

    /// The blob `hash` as this device holds it.
    pub fn blob(&self, hash: &str) -> Result<Option<BlobInfo>> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT hash, size, mime, state, uploaded, priority FROM blobs WHERE hash = ?1",
                [hash],
                row_info,
            )
            .optional()?
            .transpose()
        })
    }

    /// Whether this device holds photo `hash`: its row and its file. A reference to a photo
    /// it does not hold is refused ([`ValidationError::PhotoNotOnDevice`]): it could never
    /// be uploaded.
    pub fn has_photo(&self, hash: &str) -> Result<bool> {
        let known = self.with_conn(|c| {
            Ok(
                c.query_row("SELECT 1 FROM blobs WHERE hash = ?1", [hash], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })?;
        Ok(known && is_blob_hash(hash) && self.blob_file(hash).is_file())
    }

    /// The file of a photo this device holds, marking it recently used; `None` if it must be
    /// fetched (`SyncClient::fetch_blob`).
    pub fn photo_path(&self, hash: &str) -> Result<Option<PathBuf>> {
        let now = self.now();
        let known = self.with_conn(|c| {
            Ok(c.execute(
                "UPDATE blobs SET last_used = ?2 WHERE hash = ?1",
                params![hash, now],
            )? == 1)
        })?;
        let file = self.blob_file(hash);
        Ok((known && file.exists()).then_some(file))
    }

    /// Blobs not yet complete on the server, life-safety first, then oldest.
    pub fn pending_uploads(&self) -> Result<Vec<BlobInfo>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT hash, size, mime, state, uploaded, priority FROM blobs
                 WHERE state = 'local' ORDER BY priority, created_at, hash",
            )?;
            let rows = stmt.query_map([], row_info)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r??);
            }
            Ok(out)
        })
    }

    /// Records how far the server has a local blob.
    pub(crate) fn set_upload_offset(&self, hash: &str, offset: u64) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "UPDATE blobs SET uploaded = ?2 WHERE hash = ?1 AND state = 'local'",
                params![hash, offset as i64],
            )?;
            Ok(())
        })
    }

    /// The server has all of `hash`: it may now be evicted.
    pub(crate) fn mark_uploaded(&self, hash: &str) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "UPDATE blobs SET state = 'uploaded', uploaded = size
                 WHERE hash = ?1 AND state = 'local'",
                [hash],
            )?;
            Ok(())
        })?;
        self.evict_blobs(Some(hash))
    }

    /// Makes a verified download visible: moves the part file to its name and records it.
    pub(crate) fn finish_download(&self, hash: &str) -> Result<PathBuf> {
        let part = self.blob_part_file(hash);
        let (actual, size, head) = hash_file(&part)?;
        if actual != hash {
            let _ = fs::remove_file(&part);
            return Err(Error::Corrupt(format!(
                "downloaded photo {hash} does not match its hash; it was discarded"
            )));
        }
        let mime = sniff_mime(&head).unwrap_or("application/octet-stream");
        File::open(&part)?.sync_all()?;
        let file = self.blob_file(hash);
        fs::rename(&part, &file)?;
        sync_dir(&self.blob_dir())?;
        let b = ImportedBlob {
            hash: hash.to_string(),
            size,
            mime: mime.to_string(),
        };
        self.write(|t| insert_blob(t, &b, BlobState::Cached, 9))?;
        self.evict_blobs(Some(hash))?;
        Ok(file)
    }

    /// Sets how many bytes of uploaded and cached photos to keep, and evicts down to it.
    pub fn set_blob_cache_limit(&self, bytes: u64) -> Result<()> {
        self.with_conn(|c| {
            c.execute(
                "INSERT INTO meta(key, value) VALUES ('blob_cache_bytes', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [(bytes as i64).to_le_bytes().to_vec()],
            )?;
            Ok(())
        })?;
        self.evict_blobs(None)
    }

    /// Evicts least recently used uploaded and cached photos beyond the cache limit, never
    /// `keep` and never a photo the server does not have yet.
    pub fn evict_blobs(&self, keep: Option<&str>) -> Result<()> {
        let victims = self.with_conn(|c| {
            let limit = c
                .query_row(
                    "SELECT value FROM meta WHERE key = 'blob_cache_bytes'",
                    [],
                    |r| r.get::<_, Vec<u8>>(0),
                )
                .optional()?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map(|b| i64::from_le_bytes(b).max(0) as u64)
                .unwrap_or(DEFAULT_CACHE_BYTES);
            let mut stmt = c.prepare(
                "SELECT hash, size FROM blobs WHERE state != 'local' ORDER BY last_used DESC",
            )?;
            let rows: Vec<(String, i64)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut kept = 0u64;
            let mut victims = Vec::new();
            for (hash, size) in rows {
                if Some(hash.as_str()) == keep || kept + size as u64 <= limit {
                    kept += size as u64;
                } else {
                    victims.push(hash);
                }
            }
            for h in &victims {
                c.execute(
                    "DELETE FROM blobs WHERE hash = ?1 AND state != 'local'",
                    [h],
                )?;
            }
            Ok(victims)
        })?;
        // The rows go first: a crash now leaves stray files, never rows without files.
        for h in victims {
            match fs::remove_file(self.blob_file(&h)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Bytes of photos on this device: (not yet uploaded, uploaded or cached).
    pub fn blob_bytes(&self) -> Result<(u64, u64)> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT coalesce(sum(CASE WHEN state = 'local' THEN size END), 0),
                        coalesce(sum(CASE WHEN state != 'local' THEN size END), 0) FROM blobs",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )?)
        })
    }
}

/// Inside an action's transaction: `Err(PhotoNotOnDevice)` for the first of `hashes` this
/// device has no blob row for (a row means the file is there: files are written before
/// their rows and deleted after them). Photos imported for the same action are inserted
/// first by the caller.
pub(crate) fn check_photos_held<'a>(
    t: &Txn<'_>,
    hashes: impl IntoIterator<Item = &'a str>,
) -> Result<()> {
    let mut stmt = t
        .conn()
        .prepare_cached("SELECT 1 FROM blobs WHERE hash = ?1")?;
    for h in hashes {
        if !stmt.exists([h])? {
            return Err(ValidationError::PhotoNotOnDevice(h.to_string()).into());
        }
    }
    Ok(())
}

fn doc_priority(t: &Txn<'_>, id: &str) -> Result<i64> {
    Ok(t.conn()
        .query_row("SELECT priority FROM documents WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?
        .unwrap_or(9))
}

fn insert_blob(t: &Txn<'_>, b: &ImportedBlob, state: BlobState, priority: i64) -> Result<()> {
    if !is_blob_hash(&b.hash) {
        return Err(Error::Storage(format!("{} is not a blob hash", b.hash)));
    }
    // A photo attached again keeps its state (the server may have it already) and takes
    // the more urgent priority.
    t.conn().execute(
        "INSERT INTO blobs(hash, size, mime, state, uploaded, priority, last_used, created_at)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?6)
         ON CONFLICT(hash) DO UPDATE SET priority = min(priority, excluded.priority),
             last_used = excluded.last_used",
        params![
            b.hash,
            b.size as i64,
            b.mime,
            state.as_str(),
            priority,
            t.now()
        ],
    )?;
    Ok(())
}

fn row_info(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<BlobInfo>> {
    let state: String = r.get(3)?;
    Ok(BlobState::parse(&state).map(|state| BlobInfo {
        hash: r.get(0).unwrap_or_default(),
        size: r.get::<_, i64>(1).unwrap_or(0) as u64,
        mime: r.get(2).unwrap_or_default(),
        state,
        uploaded: r.get::<_, i64>(4).unwrap_or(0) as u64,
        priority: r.get(5).unwrap_or(9),
    }))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{Category, Urgency};
    use crate::member::{Member, Role};
    use crate::photo::MAX_BLOB_BYTES;
    use crate::sync::blobs::sha256_hex;

    pub(crate) fn jpeg(len: usize, seed: u8) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
        v.extend((0..len.saturating_sub(4)).map(|i| (i as u8).wrapping_mul(31) ^ seed));
        v
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path().join("s.db")).unwrap();
        s.set_member(&Member {
            id: "gm".into(),
            name: "GM".into(),
            role: Role::GridMember,
            grids: vec!["g".into()],
            unit_id: None,
        })
        .unwrap();
        (dir, s)
    }

    #[test]
    fn a_photo_is_copied_hashed_and_referenced_in_one_action() {
        let (dir, s) = store();
        let file = dir.path().join("p.jpg");
        let bytes = jpeg(100_000, 1);
        fs::write(&file, &bytes).unwrap();
        let case = s
            .create_case(NewCase::new(
                Category::FireHazard,
                Urgency::LifeSafety,
                "fire",
                "g",
            ))
            .unwrap();
        let hash = s.add_photo_to_case(&case, &file).unwrap();
        assert_eq!(hash, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(
            s.case(&case).unwrap().attachments,
            std::slice::from_ref(&hash)
        );
        let info = s.blob(&hash).unwrap().unwrap();
        assert_eq!(
            (info.state, info.size, info.mime.as_str(), info.priority),
            (BlobState::Local, 100_000, "image/jpeg", 0)
        );
        let path = s.photo_path(&hash).unwrap().unwrap();
        assert_eq!(fs::read(path).unwrap(), bytes);
        assert_eq!(s.pending_uploads().unwrap().len(), 1);
    }

    #[test]
    fn a_file_that_is_not_a_photo_or_too_big_is_refused_and_nothing_is_recorded() {
        let (dir, s) = store();
        let case = s
            .create_case(NewCase::new(Category::Waste, Urgency::Low, "w", "g"))
            .unwrap();
        let text = dir.path().join("notes.jpg");
        fs::write(&text, b"just some text pretending to be a jpeg").unwrap();
        let err = s.add_photo_to_case(&case, &text).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        let big = dir.path().join("big.jpg");
        let f = File::create(&big).unwrap();
        f.set_len(MAX_BLOB_BYTES + 1).unwrap();
        let err = s.add_photo_to_case(&case, &big).unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err:?}");
        assert!(s.case(&case).unwrap().attachments.is_empty());
        assert!(s.pending_uploads().unwrap().is_empty());
        // No temp files left behind.
        let left: Vec<_> = fs::read_dir(s.blob_dir())
            .map(|d| d.filter_map(|e| e.ok()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_refused_action_leaves_only_an_unreferenced_file() {
        let (dir, s) = store();
        let file = dir.path().join("p.png");
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend_from_slice(&[7u8; 500]);
        fs::write(&file, &png).unwrap();
        let err = s.add_photo_to_case("no-such-case", &file).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert!(s.pending_uploads().unwrap().is_empty());
    }

    #[test]
    fn only_uploaded_or_cached_photos_are_evicted_least_recently_used_first() {
        let (dir, s) = store();
        let case = s
            .create_case(NewCase::new(Category::Waste, Urgency::Low, "w", "g"))
            .unwrap();
        let mut hashes = Vec::new();
        for i in 0..4u8 {
            let f = dir.path().join(format!("{i}.jpg"));
            fs::write(&f, jpeg(1000, i)).unwrap();
            hashes.push(s.add_photo_to_case(&case, &f).unwrap());
        }
        s.set_blob_cache_limit(0).unwrap();
        // Nothing uploaded: nothing evicted, whatever the limit.
        for h in &hashes {
            assert!(s.photo_path(h).unwrap().is_some());
        }
        s.set_blob_cache_limit(2500).unwrap();
        for h in &hashes[..3] {
            s.mark_uploaded(h).unwrap();
        }
        // Uploaded 0, 1, 2 (2 most recent): 2 and 1 fit in 2500 bytes; 0 goes. 3 is local.
        assert!(s.photo_path(&hashes[0]).unwrap().is_none());
        assert!(!s.blob_file(&hashes[0]).exists());
        for h in &hashes[1..] {
            assert!(s.photo_path(h).unwrap().is_some(), "{h}");
        }
        assert_eq!(s.blob_bytes().unwrap(), (1000, 2000));
    }

    #[test]
    fn only_photos_this_device_holds_count_as_held() {
        let (dir, s) = store();
        let f = dir.path().join("p.jpg");
        fs::write(&f, jpeg(2000, 9)).unwrap();
        let imported = s.import_photo(&f).unwrap();
        // Copied in but not recorded: not held (nothing would upload it).
        assert!(!s.has_photo(&imported.hash).unwrap());
        let mut c = NewCase::new(Category::Waste, Urgency::Low, "w", "g");
        c.attachments = vec![sha256_hex(b"a photo taken on another phone")];
        let err = s.create_case_with_photos(c.clone(), &[&f]).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(ValidationError::PhotoNotOnDevice(h)) if *h == c.attachments[0]),
            "{err:?}"
        );
        assert!(s.all_cases(10, 0).unwrap().is_empty());
        assert!(!s.has_photo(&imported.hash).unwrap(), "rolled back");
        c.attachments.clear();
        let id = s.create_case_with_photos(c.clone(), &[&f]).unwrap();
        assert!(s.has_photo(&imported.hash).unwrap());
        assert_eq!(
            s.blob(&imported.hash).unwrap().unwrap().priority,
            super::super::projection::priority_of_case(&s.case(&id).unwrap()),
            "the case's priority"
        );
        // A held photo may be named by its hash on the next report.
        c.attachments = vec![imported.hash.clone()];
        let no_files: [&Path; 0] = [];
        let again = s.create_case_with_photos(c, &no_files).unwrap();
        assert_ne!(again, id);
        fs::remove_file(s.blob_file(&imported.hash)).unwrap();
        assert!(!s.has_photo(&imported.hash).unwrap(), "file gone");
        assert!(!s.has_photo("not-a-hash").unwrap());
    }

    #[test]
    fn answers_carry_photos_from_files() {
        let (dir, s) = store();
        let insp = s
            .start_inspection(
                "residential-fire-safety",
                crate::inspection::Site::new("site", "g"),
                None,
            )
            .unwrap();
        let item = s.inspection(&insp).unwrap().template.sections[0].items[0]
            .id
            .clone();
        let f = dir.path().join("a.webp");
        let mut webp = b"RIFF\x10\0\0\0WEBPVP8 ".to_vec();
        webp.extend_from_slice(&[3u8; 300]);
        fs::write(&f, &webp).unwrap();
        let value = match s.inspection(&insp).unwrap().template.sections[0].items[0].answer {
            crate::template::AnswerKind::PassFail => AnswerValue::Pass,
            crate::template::AnswerKind::YesNo => AnswerValue::Yes,
            _ => return,
        };
        let hashes = s
            .answer_with_photos(&insp, &item, value, "", &[&f])
            .unwrap();
        let got = s.inspection(&insp).unwrap();
        assert_eq!(got.answer(&item).unwrap().winner().photos, hashes);
        assert_eq!(s.blob(&hashes[0]).unwrap().unwrap().mime, "image/webp");
    }
}
