//! The store object and its areas: cases, inspections, templates (and sync, in `sync.rs`).
//!
//! Every method is one call into `outpost_core::Store`, a conversion of its result, and,
//! after a successful write, one [`DataChange`] to the listeners. All objects of one store
//! share it; the database closes when the last of them is closed or collected.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use outpost_core as core;

use crate::error::{OutpostError, Result};
use crate::listener::{DataChange, DataListener, Listeners, Subscription};
use crate::live;
use crate::photos::{PhotoListener, Photos};
use crate::runtime::blocking;
use crate::sync::{Sync, SyncListener, SyncShared};
use crate::token::{Foreign, TokenStore};
use crate::types::{
    Case, CaseEdit, CaseSummary, Category, EventKind, Inspection, InspectionStatus,
    InspectionSummary, Location, Member, NewCase, Site, Template,
};

/// What every object of one open store holds.
pub(crate) struct Shared {
    pub(crate) store: core::Store,
    pub(crate) listeners: Listeners<dyn DataListener>,
    pub(crate) sync_listeners: Listeners<dyn SyncListener>,
    pub(crate) photo_listeners: Listeners<dyn PhotoListener>,
    pub(crate) sync: SyncShared,
    /// Held for the whole of a photo download (two would write the same part file).
    pub(crate) fetching: tokio::sync::Mutex<()>,
}

impl Shared {
    pub(crate) fn changed(&self, change: DataChange) {
        self.listeners.notify(&change);
    }

    fn cases_changed(&self, ids: Vec<String>) {
        self.changed(DataChange {
            case_ids: ids,
            ..DataChange::default()
        });
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        live::STORES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A list window from the foreign side, where integers are signed.
pub(crate) fn window(limit: i32, offset: i32) -> Result<(i64, i64)> {
    if limit < 0 || offset < 0 {
        return Err(OutpostError::invalid(format!(
            "limit and offset must not be negative (got {limit} and {offset})"
        )));
    }
    Ok((i64::from(limit), i64::from(offset)))
}

fn list<T, U: From<T>>(rows: Vec<T>) -> Vec<U> {
    rows.into_iter().map(Into::into).collect()
}

/// The device's database. Open it once per process and share it.
#[derive(uniffi::Object)]
pub struct Store {
    shared: Arc<Shared>,
    cases: Arc<Cases>,
    inspections: Arc<Inspections>,
    templates: Arc<Templates>,
    photos: Arc<Photos>,
    sync: Arc<Sync>,
}

impl Store {
    pub(crate) fn core(&self) -> &core::Store {
        &self.shared.store
    }

    fn wrap(store: core::Store) -> Arc<Self> {
        live::STORES.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::new(Shared {
            store,
            listeners: Listeners::default(),
            sync_listeners: Listeners::default(),
            photo_listeners: Listeners::default(),
            sync: SyncShared::default(),
            fetching: tokio::sync::Mutex::new(()),
        });
        Arc::new(Store {
            cases: Arc::new(Cases {
                shared: shared.clone(),
            }),
            inspections: Arc::new(Inspections {
                shared: shared.clone(),
            }),
            templates: Arc::new(Templates {
                shared: shared.clone(),
            }),
            photos: Arc::new(Photos {
                shared: shared.clone(),
            }),
            sync: Arc::new(Sync {
                shared: shared.clone(),
            }),
            shared,
        })
    }
}

fn checked_path(path: &str) -> Result<()> {
    if path.trim().is_empty() {
        return Err(OutpostError::invalid("the database path must not be empty"));
    }
    Ok(())
}

#[uniffi::export]
impl Store {
    /// Opens or creates the store at `path`, with the device token in `<path>.token`, a file
    /// only this app's user may read. Apps pass their Keystore or Keychain instead
    /// (`open_with_token_store`). A file that is not an Outpost database is left untouched
    /// and reported as `NotAStore`.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
        checked_path(&path)?;
        Ok(Store::wrap(core::Store::open(&path)?))
    }

    /// Opens or creates the store at `path`, with the device token kept by `token_store`
    /// (never in the database). A token an older version kept in the database moves there
    /// now and is erased from the database's files.
    #[uniffi::constructor]
    pub fn open_with_token_store(
        path: String,
        token_store: Arc<dyn TokenStore>,
    ) -> Result<Arc<Self>> {
        checked_path(&path)?;
        let tokens = Arc::new(Foreign(token_store));
        Ok(Store::wrap(core::Store::open_with_token_store(
            &path, tokens,
        )?))
    }

    pub fn path(&self) -> String {
        self.shared.store.path().to_string_lossy().into_owned()
    }

    /// This device's Automerge actor id (hex); every change made here carries it.
    pub fn actor_id(&self) -> Result<String> {
        Ok(self.shared.store.actor_id()?)
    }

    /// The store's clock, milliseconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        self.shared.store.now()
    }

    /// Sets who uses the device (locally until enrollment supplies it).
    pub fn set_member(&self, member: Member) -> Result<()> {
        self.shared.store.set_member(&member.into())?;
        self.shared.changed(DataChange {
            member_changed: true,
            ..DataChange::default()
        });
        Ok(())
    }

    pub fn member(&self) -> Result<Option<Member>> {
        Ok(self.shared.store.member()?.map(Into::into))
    }

    pub fn cases(&self) -> Arc<Cases> {
        self.cases.clone()
    }

    pub fn inspections(&self) -> Arc<Inspections> {
        self.inspections.clone()
    }

    pub fn templates(&self) -> Arc<Templates> {
        self.templates.clone()
    }

    /// Photo files, downloads and their progress.
    pub fn photos(&self) -> Arc<Photos> {
        self.photos.clone()
    }

    /// Enrollment with the server and sync.
    pub fn sync(&self) -> Arc<Sync> {
        self.sync.clone()
    }

    /// Calls `listener` after every successful write through any object of this store, and
    /// after a sync that brought changes, until the returned subscription is cancelled,
    /// closed or collected.
    pub fn subscribe(&self, listener: Arc<dyn DataListener>) -> Arc<Subscription> {
        Arc::new(Subscription::data(&self.shared, listener))
    }

    /// How many listeners are registered now.
    pub fn listener_count(&self) -> u32 {
        u32::try_from(self.shared.listeners.len()).unwrap_or(u32::MAX)
    }

    /// SQLite's full integrity check, off the caller's thread (it reads the whole file).
    /// Fails with `Corrupt` listing what is wrong.
    pub async fn check_integrity(&self) -> Result<()> {
        let shared = self.shared.clone();
        blocking(move || Ok(shared.store.check_integrity()?)).await
    }
}

/// Cases: flag, report, correct, act on, read and list.
#[derive(uniffi::Object)]
pub struct Cases {
    shared: Arc<Shared>,
}

impl Cases {
    pub(crate) fn store(&self) -> &core::Store {
        &self.shared.store
    }
}

#[uniffi::export]
impl Cases {
    /// The courier's one-tap flag: a life-safety "person in distress" case, saved at once,
    /// also without a location fix. Returns the case id.
    ///
    /// `photo_path` is a photo file from the camera. It is checked first (a file that is not
    /// a photo fails with `Invalid` and nothing is saved), then the flag is saved and the
    /// photo added to its timeline: a photo never holds up the flag itself.
    #[uniffi::method(default(location = None, note = None, photo_path = None))]
    pub fn flag_person_in_distress(
        &self,
        grid_id: String,
        location: Option<Location>,
        note: Option<String>,
        photo_path: Option<String>,
    ) -> Result<String> {
        let store = &self.shared.store;
        let photo = photo_path.map(|p| store.import_photo(p)).transpose()?;
        let id = store.flag_person_in_distress(
            &grid_id,
            location.map(Into::into),
            note.as_deref(),
            None,
        )?;
        let attached = photo.map(|b| store.add_imported_photo_to_case(&id, &b));
        self.shared.cases_changed(vec![id.clone()]);
        attached.transpose()?;
        Ok(id)
    }

    /// Opens a case from the report form. Returns its id. Its `attachments` may name only
    /// photos this device holds; new photos come as files (`create_with_photos`).
    pub fn create(&self, new_case: NewCase) -> Result<String> {
        let id = self.shared.store.create_case(new_case.into())?;
        self.shared.cases_changed(vec![id.clone()]);
        Ok(id)
    }

    /// Opens a case with photos from these files (from the camera), in one transaction:
    /// each file is checked (JPEG, PNG, WebP or HEIC, at most 20 MiB) and copied beside the
    /// database under its SHA-256, which the case's attachments then name. The files given
    /// may be deleted afterwards. Returns the case id.
    pub fn create_with_photos(
        &self,
        new_case: NewCase,
        photo_paths: Vec<String>,
    ) -> Result<String> {
        let id = self
            .shared
            .store
            .create_case_with_photos(new_case.into(), &photo_paths)?;
        self.shared.cases_changed(vec![id.clone()]);
        Ok(id)
    }

    /// Adds the photo in this file to a case's timeline (a `PhotoAdded` event). Returns the
    /// photo's hash.
    pub fn add_photo(&self, id: String, photo_path: String) -> Result<String> {
        let hash = self.shared.store.add_photo_to_case(&id, &photo_path)?;
        self.shared.cases_changed(vec![id]);
        Ok(hash)
    }

    /// Corrects fields of a case; recorded in its timeline as an edit.
    pub fn edit(&self, id: String, edit: CaseEdit) -> Result<()> {
        self.shared.store.edit_case(&id, edit.into())?;
        self.shared.cases_changed(vec![id]);
        Ok(())
    }

    /// Moves a case to another grid (administrators only; offered as `Action::Move`).
    /// Returns the event id.
    pub fn move_to_grid(&self, id: String, grid_id: String) -> Result<String> {
        let event_id = self.shared.store.move_case(&id, &grid_id)?;
        self.shared.cases_changed(vec![id]);
        Ok(event_id)
    }

    /// Records one timeline event (accept, dispatch, progress, resolve, follow-up, reopen,
    /// cancel, comment, photo) after core checks role, grid and state. Returns the event id.
    pub fn record(&self, id: String, event: EventKind) -> Result<String> {
        let event_id = self.shared.store.record(&id, event.into())?;
        self.shared.cases_changed(vec![id]);
        Ok(event_id)
    }

    pub fn get(&self, id: String) -> Result<Case> {
        let case = self.shared.store.case(&id)?;
        Ok(Case::from_core(case, self.shared.store.now()))
    }

    /// Open cases, most urgent first, then oldest first.
    pub fn open_queue(&self, limit: i32, offset: i32) -> Result<Vec<CaseSummary>> {
        let (limit, offset) = window(limit, offset)?;
        Ok(list(self.shared.store.open_cases(limit, offset)?))
    }

    /// Cases the signed-in member reported, newest first.
    pub fn my_reports(&self, limit: i32, offset: i32) -> Result<Vec<CaseSummary>> {
        let (limit, offset) = window(limit, offset)?;
        Ok(list(self.shared.store.my_reports(limit, offset)?))
    }

    /// Open cases past their deadline, most overdue first.
    pub fn overdue(&self, limit: i32) -> Result<Vec<CaseSummary>> {
        let (limit, _) = window(limit, 0)?;
        Ok(list(self.shared.store.overdue(limit)?))
    }

    #[uniffi::method(default(category = None))]
    pub fn in_grid(
        &self,
        grid_id: String,
        category: Option<Category>,
        limit: i32,
        offset: i32,
    ) -> Result<Vec<CaseSummary>> {
        let (limit, offset) = window(limit, offset)?;
        Ok(list(self.shared.store.cases_in_grid(
            &grid_id,
            category.map(Into::into),
            limit,
            offset,
        )?))
    }

    /// Every case on this device, oldest first.
    pub fn all(&self, limit: i32, offset: i32) -> Result<Vec<CaseSummary>> {
        let (limit, offset) = window(limit, offset)?;
        Ok(list(self.shared.store.all_cases(limit, offset)?))
    }

    /// Full-text search over title, description and address (Chinese included).
    pub fn search(&self, query: String, limit: i32) -> Result<Vec<CaseSummary>> {
        let (limit, _) = window(limit, 0)?;
        Ok(list(self.shared.store.search(&query, limit)?))
    }
}

/// Checklist walkthroughs.
#[derive(uniffi::Object)]
pub struct Inspections {
    shared: Arc<Shared>,
}

impl Inspections {
    pub(crate) fn store(&self) -> &core::Store {
        &self.shared.store
    }
}

#[uniffi::export]
impl Inspections {
    /// Starts a walkthrough of `site` with the newest version of a template; `previous_id`
    /// makes it a re-inspection. Returns the inspection id.
    #[uniffi::method(default(previous_id = None))]
    pub fn start(
        &self,
        template_id: String,
        site: Site,
        previous_id: Option<String>,
    ) -> Result<String> {
        let id = self.shared.store.start_inspection(
            &template_id,
            site.into(),
            previous_id.as_deref(),
        )?;
        self.inspection_changed(id.clone(), Vec::new());
        Ok(id)
    }

    /// Answers one item. Answering again replaces this member's answer. `photos` may name
    /// only photos this device holds; new ones come as files (`answer_with_photos`).
    #[uniffi::method(default(note = "", photos = []))]
    pub fn answer(
        &self,
        inspection_id: String,
        item_id: String,
        value: crate::types::AnswerValue,
        note: String,
        photos: Vec<String>,
    ) -> Result<()> {
        self.shared
            .store
            .answer(&inspection_id, &item_id, value.into(), &note, &photos)?;
        self.inspection_changed(inspection_id, Vec::new());
        Ok(())
    }

    /// Answers one item with photos from these files (from the camera), in one transaction:
    /// each is checked and copied beside the database under its SHA-256. Returns the hashes.
    #[uniffi::method(default(note = ""))]
    pub fn answer_with_photos(
        &self,
        inspection_id: String,
        item_id: String,
        value: crate::types::AnswerValue,
        note: String,
        photo_paths: Vec<String>,
    ) -> Result<Vec<String>> {
        let hashes = self.shared.store.answer_with_photos(
            &inspection_id,
            &item_id,
            value.into(),
            &note,
            &photo_paths,
        )?;
        self.inspection_changed(inspection_id, Vec::new());
        Ok(hashes)
    }

    /// Submits the walkthrough: each failed item raises a hazard case with a rectification
    /// deadline, and on a re-inspection the rectified hazards of the previous one are
    /// resolved, all in one transaction. Returns the new hazard case ids.
    pub async fn submit(&self, inspection_id: String) -> Result<Vec<String>> {
        let shared = self.shared.clone();
        let (id, raised, touched) = blocking(move || {
            let raised = shared.store.submit_inspection(&inspection_id)?;
            // Cases resolved by the re-inspection changed too.
            let mut touched = raised.clone();
            if let Ok(i) = shared.store.inspection(&inspection_id) {
                touched.extend(i.verified.into_iter().map(|(_, case)| case));
            }
            Ok((inspection_id, raised, touched))
        })
        .await?;
        self.inspection_changed(id, touched);
        Ok(raised)
    }

    pub fn get(&self, id: String) -> Result<Inspection> {
        Ok(self.shared.store.inspection(&id)?.into())
    }

    /// Inspections, newest first; `status` narrows to in-progress or submitted ones.
    #[uniffi::method(default(status = None))]
    pub fn list(
        &self,
        status: Option<InspectionStatus>,
        limit: i32,
    ) -> Result<Vec<InspectionSummary>> {
        let (limit, _) = window(limit, 0)?;
        Ok(list(
            self.shared
                .store
                .inspections(status.map(Into::into), limit)?,
        ))
    }
}

impl Inspections {
    fn inspection_changed(&self, id: String, case_ids: Vec<String>) {
        self.shared.changed(DataChange {
            inspection_ids: vec![id],
            case_ids,
            ..DataChange::default()
        });
    }
}

/// Checklist templates (versioned; each inspection freezes the version it started with).
#[derive(uniffi::Object)]
pub struct Templates {
    shared: Arc<Shared>,
}

#[uniffi::export]
impl Templates {
    /// The newest version of every template.
    pub fn list(&self) -> Result<Vec<Template>> {
        Ok(list(self.shared.store.templates()?))
    }

    /// A template at `version`, or its newest version.
    #[uniffi::method(default(version = None))]
    pub fn get(&self, id: String, version: Option<i64>) -> Result<Template> {
        Ok(self.shared.store.template(&id, version)?.into())
    }

    /// Adds a template version from its JSON file; an existing id and version is kept as is.
    pub fn install(&self, json: String) -> Result<Template> {
        let t = self.shared.store.install_template(&json)?;
        self.shared.changed(DataChange {
            templates_changed: true,
            ..DataChange::default()
        });
        Ok(t.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use crate::listener::ListenerError;
    use crate::types::{Datum, Role};

    struct Seen(Mutex<Vec<DataChange>>);

    impl DataListener for Seen {
        fn on_change(&self, change: DataChange) -> Result<(), ListenerError> {
            self.0
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(change);
            Ok(())
        }
    }

    struct Throws;

    impl DataListener for Throws {
        fn on_change(&self, _: DataChange) -> Result<(), ListenerError> {
            Err(ListenerError::Failed {
                reason: "listener bug".into(),
            })
        }
    }

    fn courier() -> Member {
        Member {
            id: "rider-7".into(),
            name: "Wang".into(),
            role: Role::Courier,
            grids: vec!["g-1".into()],
            unit_id: None,
        }
    }

    fn open(dir: &tempfile::TempDir) -> Arc<Store> {
        let path = dir.path().join("outpost.db").to_string_lossy().into_owned();
        Store::open(path).unwrap_or_else(|e| panic!("open: {e}"))
    }

    #[test]
    fn writes_notify_listeners_until_the_subscription_is_dropped() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| OutpostError::internal(e.to_string()))?;
        let store = open(&dir);
        let seen = Arc::new(Seen(Mutex::new(Vec::new())));
        let sub = store.subscribe(seen.clone());
        let _bad = store.subscribe(Arc::new(Throws));
        store.set_member(courier())?;
        let loc = Location {
            lat: 31.3,
            lon: 121.5,
            accuracy_m: None,
            datum: Datum::Wgs84,
            address: None,
        };
        let id = store
            .cases()
            .flag_person_in_distress("g-1".into(), Some(loc), None, None)?;
        assert!(
            store
                .cases()
                .record(id.clone(), EventKind::Created)
                .is_err()
        );
        {
            let seen = seen.0.lock().unwrap_or_else(|p| p.into_inner());
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert!(seen[0].member_changed);
            assert_eq!(seen[1].case_ids, vec![id.clone()]);
        }
        assert_eq!(store.listener_count(), 2);
        drop(sub);
        assert_eq!(store.listener_count(), 1);
        store
            .cases()
            .flag_person_in_distress("g-1".into(), None, None, None)?;
        assert_eq!(seen.0.lock().unwrap_or_else(|p| p.into_inner()).len(), 2);
        Ok(())
    }

    #[test]
    fn negative_windows_are_invalid_input() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = open(&dir);
        assert!(matches!(
            store.cases().open_queue(-1, 0),
            Err(OutpostError::Invalid { .. })
        ));
        assert!(matches!(
            store.cases().all(10, -5),
            Err(OutpostError::Invalid { .. })
        ));
        assert!(matches!(
            Store::open(" ".into()),
            Err(OutpostError::Invalid { .. })
        ));
    }
}
