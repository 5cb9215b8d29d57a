//! Where the device token lives: outside the database, in a [`TokenStore`] the platform
//! provides (Android Keystore, iOS Keychain, or a file only its user can read), so a copied
//! or backed-up database file does not carry the credential beside the data it protects.
//!
//! A [`Store`] reads the token through its token store (`Store::open` uses a
//! [`FileTokenStore`] beside the database file; `Store::open_with_token_store` takes the
//! app's). Enrollment writes it there. A store from a version that kept the token in
//! `sync_state.token` has it moved out on open: saved to the token store, then the column
//! is cleared with `secure_delete` on, the file rebuilt with `VACUUM` (no copy left in free
//! pages or free space inside pages) and the WAL checkpointed and truncated, so none of the
//! database's files holds it afterwards.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::OptionalExtension;

use crate::error::{Error, Result};
use crate::store::Store;

/// Keeps one secret: the device token. Implemented by the platform (through the bindings),
/// by [`FileTokenStore`] for the terminal client and by [`MemoryTokenStore`] for tests.
pub trait TokenStore: Send + Sync {
    /// The stored token, if any.
    fn load(&self) -> std::result::Result<Option<String>, TokenStoreError>;
    /// Replaces the stored token; `None` removes it. Durable when it returns.
    fn save(&self, token: Option<&str>) -> std::result::Result<(), TokenStoreError>;
}

/// Why a token store failed, in the platform's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TokenStoreError(pub String);

impl From<std::io::Error> for TokenStoreError {
    fn from(e: std::io::Error) -> Self {
        TokenStoreError(e.to_string())
    }
}

impl From<TokenStoreError> for Error {
    fn from(e: TokenStoreError) -> Self {
        Error::TokenStore(e.0)
    }
}

/// The token in a file readable and writable only by its owner (mode 0600 on Unix),
/// replaced atomically: written to a new 0600 file, synced, renamed over the old one.
#[derive(Debug, Clone)]
pub struct FileTokenStore {
    path: PathBuf,
}

impl FileTokenStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileTokenStore { path: path.into() }
    }

    /// `<database file>.token`, the default of `Store::open`.
    pub fn beside(db: &Path) -> Self {
        let mut name = db.as_os_str().to_owned();
        name.push(".token");
        FileTokenStore::new(name)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl TokenStore for FileTokenStore {
    fn load(&self) -> std::result::Result<Option<String>, TokenStoreError> {
        match fs::read_to_string(&self.path) {
            Ok(s) => {
                let t = s.trim();
                Ok((!t.is_empty()).then(|| t.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(TokenStoreError(format!("{}: {e}", self.path.display()))),
        }
    }

    fn save(&self, token: Option<&str>) -> std::result::Result<(), TokenStoreError> {
        let named = |e: std::io::Error| TokenStoreError(format!("{}: {e}", self.path.display()));
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let Some(token) = token else {
            match fs::remove_file(&self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(named(e)),
            }
            return sync_dir(&dir).map_err(named);
        };
        let mut tmp_name = self.path.as_os_str().to_owned();
        tmp_name.push(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let tmp = PathBuf::from(tmp_name);
        let written = (|| {
            let mut f = create_private(&tmp)?;
            f.write_all(token.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            sync_dir(&dir)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(named)
    }
}

/// A new file only its owner may read or write, from the moment it exists.
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// The token in memory only: gone with the process. For tests.
#[derive(Debug, Default)]
pub struct MemoryTokenStore(Mutex<Option<String>>);

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> std::result::Result<Option<String>, TokenStoreError> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }

    fn save(&self, token: Option<&str>) -> std::result::Result<(), TokenStoreError> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = token.map(str::to_string);
        Ok(())
    }
}

/// A store's token store and what it last read from it (the token is read on every sync
/// round; a Keychain or Keystore round trip each time would be wasted).
pub(crate) struct Tokens {
    store: Arc<dyn TokenStore>,
    cached: Mutex<Option<Option<String>>>,
}

impl Tokens {
    pub(crate) fn new(store: Arc<dyn TokenStore>) -> Self {
        Tokens {
            store,
            cached: Mutex::new(None),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Option<Option<String>>> {
        self.cached.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// The device token, from the token store. A token an older version left in the
    /// database is moved out first.
    pub(crate) fn token(&self) -> Result<Option<String>> {
        if let Some(t) = self.tokens.cache().clone() {
            return Ok(t);
        }
        self.move_token_out_of_database()?;
        let t = self.tokens.store.load()?;
        *self.tokens.cache() = Some(t.clone());
        Ok(t)
    }

    /// Replaces the device token (enrollment) or removes it.
    pub(crate) fn save_token(&self, token: Option<&str>) -> Result<()> {
        // Forget first: if saving fails, the next read asks the token store again.
        *self.tokens.cache() = None;
        self.tokens.store.save(token)?;
        *self.tokens.cache() = Some(token.map(str::to_string));
        Ok(())
    }

    /// Moves a token from `sync_state.token` (versions before the token store) to the token
    /// store and erases every copy from the database's files. Does nothing if there is none.
    pub(crate) fn move_token_out_of_database(&self) -> Result<()> {
        let legacy: Option<String> = self.with_conn(|c| {
            Ok(
                c.query_row("SELECT token FROM sync_state WHERE id = 1", [], |r| {
                    r.get(0)
                })
                .optional()?
                .flatten(),
            )
        })?;
        let Some(token) = legacy else {
            return Ok(());
        };
        // Saved before it is erased: a failure here leaves it where it was, to try again.
        self.tokens.store.save(Some(&token))?;
        *self.tokens.cache() = Some(Some(token));
        self.with_conn(|c| {
            // secure_delete zeroes the old cell; VACUUM rewrites the file without free pages
            // or slack that could hold older copies of the row; the checkpoint copies the
            // result into the database file and truncates the WAL, which held the old page.
            c.execute_batch(
                "PRAGMA secure_delete = ON;
                 UPDATE sync_state SET token = NULL WHERE id = 1;
                 VACUUM;",
            )?;
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            c.execute_batch("PRAGMA secure_delete = OFF;")?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_token_is_private_replaced_whole_and_removable() {
        let dir = tempfile::tempdir().unwrap();
        let ts = FileTokenStore::beside(&dir.path().join("outpost.db"));
        assert_eq!(ts.path(), dir.path().join("outpost.db.token"));
        assert_eq!(ts.load(), Ok(None));
        ts.save(Some("first-token")).unwrap();
        ts.save(Some("second")).unwrap();
        assert_eq!(ts.load(), Ok(Some("second".into())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(ts.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        }
        // No temp files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["outpost.db.token"]);
        ts.save(None).unwrap();
        ts.save(None).unwrap();
        assert_eq!(ts.load(), Ok(None));
        assert!(!ts.path().exists());
    }

    #[test]
    fn a_token_store_that_fails_names_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let ts = FileTokenStore::new(dir.path().join("no-such-dir").join("t"));
        let e = ts.save(Some("x")).unwrap_err();
        assert!(e.0.contains("no-such-dir"), "{e}");
        let e: Error = e.into();
        assert!(
            e.to_string().starts_with("the device token store failed"),
            "{e}"
        );
    }

    #[test]
    fn memory_tokens_come_and_go() {
        let ts = MemoryTokenStore::default();
        ts.save(Some("t")).unwrap();
        assert_eq!(ts.load(), Ok(Some("t".into())));
        ts.save(None).unwrap();
        assert_eq!(ts.load(), Ok(None));
    }
}
