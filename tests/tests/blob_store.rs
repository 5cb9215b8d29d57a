//! The photo store contract (`outpost_tests::photo_contract`) on SQLite files: uploads in
//! chunks resumed from the acknowledged offset, deduplication, complete-only serving,
//! ranges at every boundary, wrong bytes discarded, squatting, expiry, quota, overflow,
//! claims. `tests/tests/pg_photos.rs` runs the same cases on PostgreSQL.

use outpost_server::blobs::{BlobStore, SqliteBlobStore, UploadPolicy};
use outpost_tests::photo_contract::Backend;

/// A temp dir holding one `outpost-blobs.db`; every store opened on it shares the file.
struct Sqlite(tempfile::TempDir);

impl Backend for Sqlite {
    fn open(&self, policy: UploadPolicy) -> Box<dyn BlobStore> {
        Box::new(
            SqliteBlobStore::open_with(self.0.path().join("outpost-blobs.db"), policy)
                .expect("open photo store"),
        )
    }
}

fn sqlite() -> Sqlite {
    Sqlite(tempfile::tempdir().expect("temp dir"))
}

outpost_tests::photo_contract_tests!(sqlite);
