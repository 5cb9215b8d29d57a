package app.outpost.screens

import app.outpost.ActionInput
import app.outpost.CaseDetail
import app.outpost.CaseRow
import app.outpost.Home
import app.outpost.Outpost
import app.outpost.ReportDraft
import app.outpost.SyncBadge
import app.outpost.SyncPolicy
import app.outpost.Walkthrough
import app.outpost.caseRows
import app.outpost.caseScreen
import app.outpost.ffi.Action
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.HomeList
import app.outpost.ffi.InspectionSummary
import app.outpost.ffi.OutpostException
import app.outpost.ffi.ResponderUnit
import app.outpost.ffi.Site
import app.outpost.ffi.Template
import app.outpost.ffi.Urgency
import app.outpost.home
import app.outpost.myReportsScreen
import app.outpost.perform
import app.outpost.report
import app.outpost.syncBadges
import app.outpost.walkthroughScreen
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onStart
import kotlinx.coroutines.withContext

/**
 * The screens' one door to the facade (app.outpost): every flow a screen shows and every
 * action it performs goes through here, so that a change of the facade is reconciled in this
 * file. A screen composable takes plain state (the facade's screen data: [Home],
 * [CaseDetail], [CaseRow], [Walkthrough], [SyncBadge]) and callbacks; the `*Route`
 * composables connect them to a [Session].
 *
 * Actions return [Result]: a refusal from core ([OutpostException]: Forbidden, WrongState,
 * Invalid, Network, ...) is a failure whose message the screen shows as text. Anything else
 * is a bug and is thrown.
 */
class Session(val outpost: Outpost, val platform: Platform) {
    // ---- what the screens show --------------------------------------------------------

    /** The member's home (tabs, buttons), re-read when enrollment changes the member. */
    val home: Flow<Home> = outpost.changes.filter { it.memberChanged }.map { }.onStart { emit(Unit) }.map { outpost.home() }

    fun caseDetail(caseId: String): Flow<CaseDetail> = outpost.caseScreen(caseId)

    /** One of core's case lists (the open cases, the overdue ones, a unit's queue). */
    fun cases(list: HomeList): Flow<List<CaseRow>> = outpost.caseRows(list)

    fun myReports(): Flow<List<CaseRow>> = outpost.myReportsScreen()

    fun walkthroughs(): Flow<List<InspectionSummary>> = outpost.inspections()

    fun walkthrough(inspectionId: String): Flow<Walkthrough> = outpost.walkthroughScreen(inspectionId)

    fun syncBadges(): Flow<SyncBadge> = outpost.syncBadges(platform.online)

    suspend fun templates(): Result<List<Template>> = core { outpost.templates() }

    /** Responder units from the server's directory (none before enrollment). */
    suspend fun units(): Result<List<ResponderUnit>> = core { outpost.directory()?.units.orEmpty() }

    // ---- what the screens do ----------------------------------------------------------

    /**
     * The one-tap "person in distress" flag: saved at once with the last fix if recent and
     * without one if not, then an expedited sync is asked for. Returns the case id.
     */
    suspend fun flag(grid: String): Result<String> = act {
        val id = outpost.flagPersonInDistress(grid, platform.recentLocation())
        platform.requestSync(SyncPolicy.expedite(Urgency.LIFE_SAFETY))
        id
    }

    /** Adds a fresh fix to a flag saved without one, if core still lets the reporter correct it. */
    suspend fun locateFlag(caseId: String): Result<Unit> = act {
        val case = outpost.case(caseId)
        if (case.location == null && outpost.actions(caseId).any { it.action == Action.EDIT && it.allowed }) {
            platform.currentLocation()?.let { outpost.edit(caseId, CaseEdit(location = it)) }
        }
    }

    suspend fun report(draft: ReportDraft, gridId: String, fallbackTitle: String): Result<String> = act {
        // The draft's photos are camera files: core copies them in with the case.
        val id = outpost.report(draft, gridId, fallbackTitle)
        platform.requestSync(SyncPolicy.expedite(draft.urgency))
        id
    }

    /** Performs a case action; core checks it again (another phone may have moved the case). */
    suspend fun perform(caseId: String, action: Action, input: ActionInput, urgency: Urgency): Result<Unit> = act {
        outpost.perform(caseId, action, input)
        platform.requestSync(SyncPolicy.expedite(urgency))
    }

    suspend fun startWalkthrough(templateId: String, siteName: String, gridId: String, address: String): Result<String> = act {
        val site = Site(siteName.trim(), gridId, address.trim().ifEmpty { null }, platform.recentLocation())
        outpost.startInspection(templateId, site)
    }

    /** Answers a checklist item; `photos` are camera files, which core copies in. */
    suspend fun answer(inspectionId: String, itemId: String, value: AnswerValue, note: String, photos: List<String>): Result<Unit> =
        act { outpost.answer(inspectionId, itemId, value, note.trim(), photos).let { } }

    /** Submits a walkthrough; the hazard cases it raised. */
    suspend fun submit(inspectionId: String): Result<List<String>> = act {
        val raised = outpost.submit(inspectionId)
        platform.requestSync(expedited = false)
        raised
    }

    suspend fun enroll(serverUrl: String, code: String): Result<Unit> = act {
        outpost.enroll(serverUrl.trim(), code.trim(), platform.deviceName)
        platform.requestSync(expedited = false)
    }

    /**
     * Takes a photo with the platform's camera and returns the file's path, or null when the
     * person cancelled. The path goes to core with the action (a report, a photo on a case, a
     * checklist answer): core checks the file, keeps its own copy under the photo's SHA-256 and
     * uploads it; a reference to a photo the phone does not hold is refused.
     */
    suspend fun takePhoto(): Result<String?> = core { platform.takePhoto() }

    /**
     * A person's action: it runs to its end, sync request included, even when the screen that
     * started it leaves meanwhile (enrolling replaces the enrollment screen as soon as core
     * knows the member, which cancels that screen's coroutines).
     */
    private suspend inline fun <T> act(crossinline block: suspend () -> T): Result<T> =
        withContext(NonCancellable) { core { block() } }

    private inline fun <T> core(block: () -> T): Result<T> = try {
        Result.success(block())
    } catch (e: OutpostException) {
        Result.failure(e)
    }
}

/** Core's message for the person holding the phone (every OutpostException carries one). */
val Throwable.readable: String get() = message?.takeIf { it.isNotBlank() } ?: this::class.simpleName.orEmpty()
