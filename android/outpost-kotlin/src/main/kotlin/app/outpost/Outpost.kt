package app.outpost

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
import app.outpost.ffi.Inspection
import app.outpost.ffi.InspectionStatus
import app.outpost.ffi.InspectionSummary
import app.outpost.ffi.Inspections
import app.outpost.ffi.Location
import app.outpost.ffi.Member
import app.outpost.ffi.NewCase
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
 * in Rust; this class only moves blocking calls off the main thread and turns the core's
 * "data changed" and "sync progress" listeners into flows (lists re-read after every write
 * and every sync that brought changes).
 *
 * Failures arrive as the generated [app.outpost.ffi.OutpostException] subclasses
 * (`Invalid`, `Forbidden`, `WrongState`, `NotFound`, `NoMember`, `Network`, ...), whose
 * message is written for the person holding the phone.
 *
 * Open one per process and [close] it when the process no longer needs the database.
 */
class Outpost private constructor(
    private val store: Store,
    private val io: CoroutineDispatcher,
) : AutoCloseable {
    private val cases: Cases = store.cases()
    private val inspections: Inspections = store.inspections()
    private val templates: Templates = store.templates()
    private val sync: Sync = store.sync()

    companion object {
        /** Opens (or creates) the database file at [path]. */
        suspend fun open(path: String, io: CoroutineDispatcher = Dispatchers.IO): Outpost =
            withContext(io) { Outpost(Store.open(path), io) }

        /** Page size of the lists the flows below show. */
        const val PAGE = 100
    }

    private suspend fun <T> onIo(block: () -> T): T = withContext(io) { block() }

    // ---- who is using the device -------------------------------------------------------

    suspend fun member(): Member? = onIo { store.member() }

    /** Sets the member locally (until enrollment supplies it from the directory). */
    suspend fun setMember(member: Member) = onIo { store.setMember(member) }

    // ---- cases ---------------------------------------------------------------------------

    /** One-tap "person in distress" flag; saved at once, also without signal or location. */
    suspend fun flagPersonInDistress(
        gridId: String,
        location: Location? = null,
        note: String? = null,
        photo: String? = null,
    ): String = onIo { cases.flagPersonInDistress(gridId, location, note, photo) }

    suspend fun report(case: NewCase): String = onIo { cases.create(case) }

    suspend fun edit(caseId: String, edit: CaseEdit) = onIo { cases.edit(caseId, edit) }

    /** Records an action on a case (accept, dispatch, progress, resolve, follow-up, ...). */
    suspend fun record(caseId: String, event: EventKind): String = onIo { cases.record(caseId, event) }

    suspend fun accept(caseId: String): String = record(caseId, EventKind.Accepted)

    suspend fun comment(caseId: String, text: String): String = record(caseId, EventKind.Comment(text))

    suspend fun case(caseId: String): Case = onIo { cases.get(caseId) }

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

    /** One case, re-read whenever a write touches it. */
    fun caseDetail(caseId: String): Flow<Case> =
        observe({ caseId in it.caseIds }) { cases.get(caseId) }

    // ---- checklists ----------------------------------------------------------------------

    suspend fun templates(): List<Template> = onIo { templates.list() }

    suspend fun startInspection(templateId: String, site: Site, previousId: String? = null): String =
        onIo { inspections.start(templateId, site, previousId) }

    suspend fun answer(
        inspectionId: String,
        itemId: String,
        value: AnswerValue,
        note: String = "",
        photos: List<String> = emptyList(),
    ) = onIo { inspections.answer(inspectionId, itemId, value, note, photos) }

    /**
     * Submits a walkthrough; failed items become hazard cases. Runs on the core's own
     * runtime (an async Rust function), so it needs no dispatcher here.
     */
    suspend fun submit(inspectionId: String): List<String> = inspections.submit(inspectionId)

    suspend fun inspection(inspectionId: String): Inspection = onIo { inspections.get(inspectionId) }

    /** One walkthrough as it fills in. */
    fun inspectionDetail(inspectionId: String): Flow<Inspection> =
        observe({ inspectionId in it.inspectionIds }) { inspections.get(inspectionId) }

    fun inspections(status: InspectionStatus? = null, limit: Int = PAGE): Flow<List<InspectionSummary>> =
        observe({ it.inspectionIds.isNotEmpty() }) { inspections.list(status, limit) }

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
    private fun <T> observe(relevant: (DataChange) -> Boolean, read: () -> T): Flow<T> =
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
        sync.close()
        store.close()
    }
}
