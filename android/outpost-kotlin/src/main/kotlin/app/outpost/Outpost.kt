package app.outpost

import app.outpost.ffi.ActionOffer
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.Case
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.CaseSummary
import app.outpost.ffi.Cases
import app.outpost.ffi.DataChange
import app.outpost.ffi.DataListener
import app.outpost.ffi.Directory
import app.outpost.ffi.Enrollment
import app.outpost.ffi.EventKind
import app.outpost.ffi.HomeList
import app.outpost.ffi.HomeRows
import app.outpost.ffi.Inspection
import app.outpost.ffi.InspectionStatus
import app.outpost.ffi.InspectionSummary
import app.outpost.ffi.Inspections
import app.outpost.ffi.ItemRule
import app.outpost.ffi.Location
import app.outpost.ffi.Member
import app.outpost.ffi.NewCase
import app.outpost.ffi.PhotoEvent
import app.outpost.ffi.PhotoInfo
import app.outpost.ffi.PhotoListener
import app.outpost.ffi.PhotoUsage
import app.outpost.ffi.Photos
import app.outpost.ffi.Readiness
import app.outpost.ffi.Site
import app.outpost.ffi.Store
import app.outpost.ffi.Sync
import app.outpost.ffi.SyncEvent
import app.outpost.ffi.SyncListener
import app.outpost.ffi.SyncOptions
import app.outpost.ffi.SyncReport
import app.outpost.ffi.SyncState
import app.outpost.ffi.Template
import app.outpost.ffi.Templates
import app.outpost.ffi.TokenStore
import app.outpost.ffi.Withholding
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.conflate
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.flowOn
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.withContext

/**
 * The app's one door to the Rust core: suspend functions for actions, [Flow]s for the
 * screens. A thin layer over the generated bindings in `app.outpost.ffi` — all rules live
 * in Rust, and core answers them as data ([actions], [readiness], [itemRules],
 * [reportWithheld], [inspectWithheld], [homeList]); this class only moves blocking calls
 * off the main thread and turns the core's "data changed" and "sync progress" listeners
 * into flows (lists re-read after every write and every sync that brought changes).
 *
 * Photos are files: the camera code hands over the path of the file it wrote, core checks
 * it (JPEG, PNG, WebP or HEIC, at most 20 MiB), copies it beside the database under its
 * SHA-256 and records the reference in the same transaction as the action; the camera's
 * file may be deleted afterwards. Syncs upload them; [fetchPhoto] downloads one this phone
 * does not hold. The device token lives in the app's [TokenStore] (the Keystore), never in
 * the database.
 *
 * Failures arrive as the generated [app.outpost.ffi.OutpostException] subclasses
 * (`Invalid`, `Forbidden`, `WrongState`, `NotFound`, `NoMember`, `PhotoNotOnDevice`,
 * `Network`, ...), whose message is written for the person holding the phone.
 *
 * Open one per process and [close] it when the process no longer needs the database.
 */
class Outpost private constructor(
    internal val store: Store,
    private val io: CoroutineDispatcher,
) : AutoCloseable {
    internal val cases: Cases = store.cases()
    internal val inspections: Inspections = store.inspections()
    private val templates: Templates = store.templates()
    private val sync: Sync = store.sync()
    private val photos: Photos = store.photos()

    companion object {
        /**
         * Opens (or creates) the database file at [path]. The app passes its Keystore-backed
         * [tokens]; without one the device token is kept in `<path>.token`, a file only this
         * app may read. A token an older version kept in the database moves to [tokens] now.
         */
        suspend fun open(path: String, tokens: TokenStore? = null, io: CoroutineDispatcher = Dispatchers.IO): Outpost =
            withContext(io) {
                Outpost(if (tokens == null) Store.open(path) else Store.openWithTokenStore(path, tokens), io)
            }

        /** Page size of the lists the flows below show. */
        const val PAGE = 100
    }

    private suspend fun <T> onIo(block: () -> T): T = withContext(io) { block() }

    // ---- who is using the device -------------------------------------------------------

    suspend fun member(): Member? = onIo { store.member() }

    /** Sets the member locally (until enrollment supplies it from the directory). */
    suspend fun setMember(member: Member) = onIo { store.setMember(member) }

    // ---- cases ---------------------------------------------------------------------------

    /**
     * One-tap "person in distress" flag; saved at once, also without signal or location.
     * [photo] is the camera's file: checked first (a file that is not a photo throws
     * `Invalid` and nothing is saved), then added to the flag's timeline.
     */
    suspend fun flagPersonInDistress(
        gridId: String,
        location: Location? = null,
        note: String? = null,
        photo: String? = null,
    ): String = onIo { cases.flagPersonInDistress(gridId, location, note, photo) }

    /**
     * Opens a case with the photos in these files (the camera's), in one transaction. The
     * case's own `attachments` may name only photos this phone holds (`PhotoNotOnDevice`).
     */
    suspend fun report(case: NewCase, photos: List<String> = emptyList()): String =
        onIo { cases.createWithPhotos(case, photos) }

    /** Adds the photo in this file to a case's timeline; returns its hash. */
    suspend fun addPhoto(caseId: String, photo: String): String = onIo { cases.addPhoto(caseId, photo) }

    suspend fun edit(caseId: String, edit: CaseEdit) = onIo { cases.edit(caseId, edit) }

    /** Moves a case to another grid (what core offers administrators as `MOVE`). */
    suspend fun moveToGrid(caseId: String, gridId: String): String = onIo { cases.moveToGrid(caseId, gridId) }

    /** Records an action on a case (accept, dispatch, progress, resolve, follow-up, ...). */
    suspend fun record(caseId: String, event: EventKind): String = onIo { cases.record(caseId, event) }

    suspend fun accept(caseId: String): String = record(caseId, EventKind.Accepted)

    suspend fun comment(caseId: String, text: String): String = record(caseId, EventKind.Comment(text))

    suspend fun case(caseId: String): Case = onIo { cases.get(caseId) }

    /**
     * Every action on a case for this device's member, in button order: offered, or
     * withheld with the sentence core's refusal would carry.
     */
    suspend fun actions(caseId: String): List<ActionOffer> = onIo { cases.actions(caseId) }

    /** Whether this member may flag or report in [gridId]: null when allowed, else why not. */
    suspend fun reportWithheld(gridId: String): Withholding? = onIo { store.reportWithheld(gridId) }

    suspend fun search(query: String, limit: Int = PAGE): List<CaseSummary> =
        onIo { cases.search(query, limit) }

    /** Open cases, most urgent first; re-read after every write. */
    fun openQueue(limit: Int = PAGE): Flow<List<CaseSummary>> =
        observe({ it.caseIds.isNotEmpty() }) { cases.openQueue(limit, 0) }

    /** What this member reported, newest first; re-read after every write. */
    fun myReports(limit: Int = PAGE): Flow<List<CaseSummary>> =
        observe({ it.caseIds.isNotEmpty() || it.memberChanged }) { cases.myReports(limit, 0) }

    fun overdue(limit: Int = PAGE): Flow<List<CaseSummary>> =
        observe({ it.caseIds.isNotEmpty() }) { cases.overdue(limit) }

    /** A responder's queue: open cases dispatched to its unit, most urgent first. */
    fun unitQueue(limit: Int = PAGE): Flow<List<CaseSummary>> =
        observe({ it.caseIds.isNotEmpty() || it.memberChanged }) { cases.unitQueue(limit, 0) }

    /** The rows of one of core's home lists ([app.outpost.ffi.homeLists] says which a role gets). */
    fun homeList(list: HomeList, limit: Int = PAGE): Flow<HomeRows> =
        observe({ it.caseIds.isNotEmpty() || it.inspectionIds.isNotEmpty() || it.memberChanged }) {
            cases.homeList(list, limit, 0)
        }

    /** One case, re-read whenever a write touches it. */
    fun caseDetail(caseId: String): Flow<Case> =
        observe({ caseId in it.caseIds }) { cases.get(caseId) }

    // ---- checklists ----------------------------------------------------------------------

    suspend fun templates(): List<Template> = onIo { templates.list() }

    suspend fun startInspection(templateId: String, site: Site, previousId: String? = null): String =
        onIo { inspections.start(templateId, site, previousId) }

    /** Answers one item; [photos] are the camera's files. Returns the photos' hashes. */
    suspend fun answer(
        inspectionId: String,
        itemId: String,
        value: AnswerValue,
        note: String = "",
        photos: List<String> = emptyList(),
    ): List<String> = onIo { inspections.answerWithPhotos(inspectionId, itemId, value, note, photos) }

    /**
     * Submits a walkthrough; failed items become hazard cases. Runs on the core's own
     * runtime (an async Rust function), so it needs no dispatcher here.
     */
    suspend fun submit(inspectionId: String): List<String> = inspections.submit(inspectionId)

    suspend fun inspection(inspectionId: String): Inspection = onIo { inspections.get(inspectionId) }

    /** Whether this member may answer and submit the walkthrough now, and what is missing. */
    suspend fun readiness(inspectionId: String): Readiness = onIo { inspections.readiness(inspectionId) }

    /** How each item of the walkthrough is answered (choices, photo required), in checklist order. */
    suspend fun itemRules(inspectionId: String): List<ItemRule> = onIo { inspections.itemRules(inspectionId) }

    /** Whether this member may start a walkthrough in [gridId]: null when allowed, else why not. */
    suspend fun inspectWithheld(gridId: String): Withholding? = onIo { store.inspectWithheld(gridId) }

    /** One walkthrough as it fills in. */
    fun inspectionDetail(inspectionId: String): Flow<Inspection> =
        observe({ inspectionId in it.inspectionIds }) { inspections.get(inspectionId) }

    fun inspections(status: InspectionStatus? = null, limit: Int = PAGE): Flow<List<InspectionSummary>> =
        observe({ it.inspectionIds.isNotEmpty() }) { inspections.list(status, limit) }

    // ---- photos ----------------------------------------------------------------------------

    /** The file of a photo this phone holds, or null if it must be fetched ([fetchPhoto]). */
    suspend fun photoPath(hash: String): String? = onIo { photos.path(hash) }

    /**
     * The file of photo [hash], downloaded if this phone does not hold it: resumed where an
     * earlier try stopped, checked against its hash before it appears. Runs on the core's
     * runtime. Throws `Rejected` while nobody may show it to this member or its owner has
     * not uploaded it yet, `Network` when the server cannot be reached.
     */
    suspend fun fetchPhoto(hash: String): String = photos.fetch(hash)

    suspend fun photoInfo(hash: String): PhotoInfo? = onIo { photos.info(hash) }

    /** Photos not yet on the server, in upload order (life-safety first). */
    suspend fun waitingPhotos(): List<PhotoInfo> = onIo { photos.waiting() }

    suspend fun photoUsage(): PhotoUsage = onIo { photos.usage() }

    /** Bytes of uploaded and fetched photos to keep; photos not yet uploaded are never evicted. */
    suspend fun setPhotoCacheLimit(bytes: Long) = photos.setCacheLimit(bytes)

    /** Photo listeners registered now (each collected photo flow holds one); for debugging. */
    val photoListenerCount: Int get() = photos.listenerCount().toInt()

    /**
     * Upload progress during syncs and every download's progress: Uploading, Fetching,
     * Fetched, FetchFailed. The listener is registered when the flow is collected.
     */
    val photoEvents: Flow<PhotoEvent> =
        callbackFlow {
            val subscription = photos.subscribe(
                object : PhotoListener {
                    override fun onPhoto(event: PhotoEvent) {
                        trySend(event)
                    }
                },
            )
            awaitClose { subscription.close() }
        }.buffer(Channel.UNLIMITED)

    // ---- enrollment and sync -------------------------------------------------------------
    //
    // Network calls are async Rust functions on the core's own runtime: no dispatcher here,
    // and a cancelled coroutine leaves the sync to finish in the background. Failures are
    // OutpostException.NotEnrolled, Unauthorized, Network, Rejected, Server, Protocol (or
    // Invalid for a malformed address or an empty code).

    /**
     * Trades an invite code for this device's token; the member, grids, units and templates
     * come from the server's directory. Data listeners hear that the member changed.
     */
    suspend fun enroll(serverUrl: String, code: String, deviceName: String): Enrollment =
        sync.enroll(serverUrl, code, deviceName)

    /**
     * Pushes what is saved here (life-safety cases first) and pulls what changed in this
     * member's scope. The screens' flows re-read what the sync changed.
     */
    suspend fun syncNow(): SyncReport = sync.sync()

    suspend fun refreshDirectory(): Directory = sync.refreshDirectory()

    /** Where this device stands with the server (the token is not included). */
    suspend fun syncState(): SyncState = onIo { sync.state() }

    /** The directory last received from the server; null before enrollment. */
    suspend fun directory(): Directory? = onIo { sync.directory() }

    /** Time limits and retries for the network calls that follow; a bad value throws Invalid. */
    var syncOptions: SyncOptions
        get() = sync.options()
        set(value) = sync.setOptions(value)

    /** Sync listeners registered now (each collected sync flow holds one); for debugging. */
    val syncListenerCount: Int get() = sync.listenerCount().toInt()

    /**
     * Every sync's events: Started, Progress after each round trip, Finished or Failed.
     * The listener is registered when the flow is collected and removed when it stops.
     */
    val syncEvents: Flow<SyncEvent> =
        callbackFlow {
            val subscription = sync.subscribe(
                object : SyncListener {
                    override fun onEvent(event: SyncEvent) {
                        trySend(event)
                    }
                },
            )
            awaitClose { subscription.close() }
        }.buffer(Channel.UNLIMITED)

    /** The sync state, re-read after every write and at the end of every sync. */
    val syncStatus: Flow<SyncState> =
        callbackFlow {
            val onSync = sync.subscribe(
                object : SyncListener {
                    override fun onEvent(event: SyncEvent) {
                        if (event is SyncEvent.Finished || event is SyncEvent.Failed) trySend(Unit)
                    }
                },
            )
            val onWrite = store.subscribe(
                object : DataListener {
                    override fun onChange(change: DataChange) {
                        trySend(Unit)
                    }
                },
            )
            trySend(Unit)
            awaitClose {
                onSync.close()
                onWrite.close()
            }
        }.conflate()
            .map { sync.state() }
            .flowOn(io)
            .distinctUntilChanged()

    // ---- the store -----------------------------------------------------------------------

    /** Listeners registered on the store now (each collected flow holds one); for debugging. */
    val listenerCount: Int get() = store.listenerCount().toInt()

    /** SQLite's full integrity check (async in Rust, off every dispatcher). */
    suspend fun checkIntegrity() = store.checkIntegrity()

    /**
     * Every write through this store as it commits. The listener is registered when the
     * flow is collected and removed when the collector stops.
     */
    val changes: Flow<DataChange> =
        callbackFlow {
            val subscription = store.subscribe(
                object : DataListener {
                    override fun onChange(change: DataChange) {
                        trySend(change)
                    }
                },
            )
            awaitClose { subscription.close() }
        }.buffer(Channel.UNLIMITED)

    /**
     * Reads once, then again after each relevant write. The listener is registered before
     * the first read, so no write between the two is missed; bursts of writes are conflated
     * into one re-read.
     */
    private fun <T> observe(relevant: (DataChange) -> Boolean, read: () -> T): Flow<T> = watch(relevant, read)

    /** [observe] for the screens' flows (Screens.kt), which read core's data and its answers together. */
    internal fun <T> watch(relevant: (DataChange) -> Boolean, read: () -> T): Flow<T> =
        callbackFlow {
            val subscription = store.subscribe(
                object : DataListener {
                    override fun onChange(change: DataChange) {
                        if (relevant(change)) trySend(Unit)
                    }
                },
            )
            trySend(Unit)
            awaitClose { subscription.close() }
        }.conflate()
            .map { read() }
            .flowOn(io)
            .distinctUntilChanged()

    /** Releases the database (once nothing else holds it). Calling it again does nothing. */
    override fun close() {
        cases.close()
        inspections.close()
        templates.close()
        photos.close()
        sync.close()
        store.close()
    }
}
