package app.outpost

import app.outpost.ffi.Answer
import app.outpost.ffi.Case
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.CaseSummary
import app.outpost.ffi.Category
import app.outpost.ffi.ChecklistItem
import app.outpost.ffi.EventKind
import app.outpost.ffi.Inspection
import app.outpost.ffi.InspectionStatus
import app.outpost.ffi.Location
import app.outpost.ffi.Member
import app.outpost.ffi.NewCase
import app.outpost.ffi.Role
import app.outpost.ffi.Status
import app.outpost.ffi.TimelineEntry
import app.outpost.ffi.Urgency
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.map

/*
 * What each screen shows for a state, as plain data the Compose (and SwiftUI) code renders
 * without deciding anything. Text comes as keys: a string resource name on Android, a
 * Localizable.strings key on iOS, the same key on both (LabelKeysTest checks all four files).
 */

val Status.key: String get() = "status_" + name.lowercase()
val Category.key: String get() = "category_" + name.lowercase()
val Urgency.key: String get() = "urgency_" + name.lowercase()
val InspectionStatus.key: String get() = "inspection_" + name.lowercase()

val EventKind.key: String
    get() = "event_" + when (this) {
        EventKind.Created -> "created"
        EventKind.Accepted -> "accepted"
        is EventKind.Dispatched -> "dispatched"
        is EventKind.Progress -> "progress"
        is EventKind.Resolved -> "resolved"
        is EventKind.FollowUp -> "follow_up"
        is EventKind.Reopened -> "reopened"
        is EventKind.Cancelled -> "cancelled"
        is EventKind.Comment -> "comment"
        is EventKind.PhotoAdded -> "photo_added"
        is EventKind.Edited -> "edited"
        is EventKind.Unknown -> "unknown"
    }

/** Chinese or English text of a checklist template, by the app's language. */
fun localized(zh: String, en: String, language: String): String =
    if (language.startsWith("zh") || en.isBlank()) zh else en

// ---- home --------------------------------------------------------------------------------

enum class Tab {
    HOME, MY_REPORTS, QUEUE, WALKTHROUGHS;

    val key: String get() = "tab_" + name.lowercase()
}

/**
 * The home screen and the tabs a member gets. [grid] is where a flag, a report or a
 * walkthrough goes (the member's first grid); [canFlag] shows the large "person in
 * distress" button, [canReport] the report form, [canInspect] the "start a walkthrough" form.
 */
data class Home(
    val member: Member?,
    val grid: String?,
    val canFlag: Boolean,
    val canReport: Boolean,
    val canInspect: Boolean,
    val tabs: List<Tab>,
) {
    companion object {
        fun of(member: Member?): Home {
            val grid = member?.grids?.firstOrNull()
            val canReport = grid != null && Rules.canReport(member, grid)
            val tabs = when (member?.role) {
                null -> emptyList()
                Role.COURIER -> listOf(Tab.HOME, Tab.MY_REPORTS)
                Role.GRID_MEMBER -> listOf(Tab.HOME, Tab.MY_REPORTS, Tab.WALKTHROUGHS, Tab.QUEUE)
                Role.GRID_LEAD, Role.ADMIN -> listOf(Tab.HOME, Tab.QUEUE, Tab.WALKTHROUGHS, Tab.MY_REPORTS)
                Role.RESPONDER -> listOf(Tab.QUEUE)
            }
            return Home(
                member = member,
                grid = grid,
                canFlag = canReport,
                canReport = canReport,
                canInspect = grid != null && Rules.canInspect(member, grid),
                tabs = tabs,
            )
        }
    }
}

// ---- report form -------------------------------------------------------------------------

/** The report form as it is filled in: category, photos (the camera's files), note, location. */
data class ReportDraft(
    val category: Category = Category.OTHER,
    val urgency: Urgency = defaultUrgency(category),
    val note: String = "",
    val location: Location? = null,
    val photos: List<String> = emptyList(),
) {
    /** Picking a category also picks its usual urgency; the reporter may still change it. */
    fun withCategory(c: Category): ReportDraft = copy(category = c, urgency = defaultUrgency(c))

    /**
     * The case to create, without its photos (files, which [Outpost.report] takes beside
     * it). The title is the note's first line, or [fallbackTitle] (the category's label)
     * when there is no note; core validates everything else.
     */
    fun toNewCase(gridId: String, fallbackTitle: String): NewCase {
        val firstLine = note.trim().lineSequence().firstOrNull().orEmpty().trim().take(TITLE_CHARS)
        return NewCase(
            category = category,
            urgency = urgency,
            title = firstLine.ifEmpty { fallbackTitle },
            gridId = gridId,
            description = note.trim(),
            location = location,
            attachments = emptyList(),
        )
    }

    companion object {
        const val TITLE_CHARS = 60

        fun defaultUrgency(c: Category): Urgency = when (c) {
            Category.PERSON_IN_DISTRESS -> Urgency.LIFE_SAFETY
            Category.FIRE_HAZARD, Category.GAS_HAZARD -> Urgency.URGENT
            else -> Urgency.NORMAL
        }
    }
}

// ---- case detail -------------------------------------------------------------------------

/** What the reporter is told about their report. */
enum class Acknowledgement {
    /** Saved; nobody has taken it on yet. */
    WAITING,

    /** "Received, someone is coming." */
    COMING,
    HANDLED,
    WITHDRAWN,
    ;

    val key: String get() = "ack_" + name.lowercase()

    companion object {
        fun of(case: Case): Acknowledgement = when {
            case.status == Status.CANCELLED -> WITHDRAWN
            !case.status.isOpen -> HANDLED
            case.acknowledged -> COMING
            else -> WAITING
        }
    }
}

/** One timeline row: what happened, its text, and why it no longer fits if it does not. */
data class TimelineRow(
    val entry: TimelineEntry,
    val key: String,
    /** What the person wrote (note, reason, comment), the unit, or the edited fields. */
    val text: String?,
    val photo: String?,
    val deadline: Long?,
    val satisfaction: Int?,
    /** Core's reason when the event conflicted with the state it landed on; shown, not applied. */
    val conflict: String?,
    val mine: Boolean,
) {
    companion object {
        fun of(entry: TimelineEntry, me: Member?): TimelineRow {
            val k = entry.kind
            val text = when (k) {
                is EventKind.Dispatched -> k.unitId
                is EventKind.Progress -> k.note
                is EventKind.Resolved -> k.note
                is EventKind.FollowUp -> k.note
                is EventKind.Reopened -> k.reason
                is EventKind.Cancelled -> k.reason
                is EventKind.Comment -> k.text
                is EventKind.Edited -> k.fields
                is EventKind.Unknown -> k.name
                else -> null
            }?.takeIf { it.isNotBlank() }
            return TimelineRow(
                entry = entry,
                key = k.key,
                text = text,
                photo = (k as? EventKind.PhotoAdded)?.hash,
                deadline = (k as? EventKind.Dispatched)?.deadline,
                satisfaction = (k as? EventKind.FollowUp)?.satisfaction?.toInt(),
                conflict = entry.conflict,
                mine = me != null && entry.author == me.id,
            )
        }
    }
}

/** The case detail screen for the member holding the phone. */
data class CaseDetail(
    val case: Case,
    val statusKey: String,
    val urgencyKey: String,
    val categoryKey: String,
    val lifeSafety: Boolean,
    /** Shown to the reporter only. */
    val acknowledgement: Acknowledgement?,
    val overdue: Boolean,
    /** Oldest first, as the fold reads them. */
    val timeline: List<TimelineRow>,
    val conflicts: Int,
    val actions: List<CaseAction>,
) {
    companion object {
        fun of(case: Case, me: Member?): CaseDetail = CaseDetail(
            case = case,
            statusKey = case.status.key,
            urgencyKey = case.urgency.key,
            categoryKey = case.category.key,
            lifeSafety = case.urgency == Urgency.LIFE_SAFETY,
            acknowledgement = if (me != null && me.id == case.reporterId) Acknowledgement.of(case) else null,
            overdue = case.overdue,
            timeline = case.timeline.map { TimelineRow.of(it, me) },
            conflicts = case.conflicts.toInt(),
            actions = Rules.actions(me, case.facts),
        )
    }
}

// ---- lists -------------------------------------------------------------------------------

/** One row of the lead's queue, of "my reports", of a responder's list. */
data class CaseRow(
    val summary: CaseSummary,
    val statusKey: String,
    val urgencyKey: String,
    val categoryKey: String,
    val lifeSafety: Boolean,
    /** Open and past its deadline (core's `is_overdue`), by [now] of [rows]. */
    val overdue: Boolean,
    val conflict: Boolean,
    /** The buttons on the row itself: accept and dispatch, where offered. */
    val quickActions: List<CaseAction>,
    val ageMs: Long,
) {
    companion object {
        private val QUICK = setOf(CaseAction.ACCEPT, CaseAction.DISPATCH)

        /** Rows in core's order (most urgent, then oldest); a responder sees only its unit's cases. */
        fun rows(me: Member?, cases: List<CaseSummary>, now: Long): List<CaseRow> =
            cases.filter { me?.role != Role.RESPONDER || Rules.inScope(me, it.facts) }
                .map { of(it, me, now) }

        fun of(s: CaseSummary, me: Member?, now: Long): CaseRow = CaseRow(
            summary = s,
            statusKey = s.status.key,
            urgencyKey = s.urgency.key,
            categoryKey = s.category.key,
            lifeSafety = s.urgency == Urgency.LIFE_SAFETY,
            overdue = s.status.isOpen && s.deadline?.let { it < now } == true,
            conflict = s.conflicts > 0,
            quickActions = Rules.actions(me, s.facts).filter { it in QUICK },
            ageMs = (now - s.createdAt).coerceAtLeast(0),
        )
    }
}

// ---- walkthrough -------------------------------------------------------------------------

/** One checklist item as the walkthrough shows it. */
data class ItemRow(
    val item: ChecklistItem,
    val sectionTitle: String,
    val sectionTitleEn: String,
    /** The winning answer first, then those made concurrently on other phones. */
    val answers: List<Answer>,
    /** The winning answer is a hazard (core's `failed`). */
    val hazard: Boolean,
    /** More than one person answered concurrently: all are shown, the first one counts. */
    val conflict: Boolean,
    /** Hazard cases raised from this item at submission. */
    val hazardCases: List<String>,
    val choices: List<AnswerChoice>,
) {
    val answered: Boolean get() = answers.isNotEmpty()
    val winner: Answer? get() = answers.firstOrNull()
}

/** The walkthrough screen: progress, the items, conflicts, and whether submit is offered. */
data class Walkthrough(
    val inspection: Inspection,
    val items: List<ItemRow>,
    val answered: Int,
    val total: Int,
    val conflictItems: List<String>,
    val hazards: Int,
    val submitted: Boolean,
    val canAnswer: Boolean,
    val canSubmit: Boolean,
) {
    /** 0.0 to 1.0, for a progress bar. */
    val progress: Float get() = if (total == 0) 1f else answered.toFloat() / total

    companion object {
        fun of(inspection: Inspection, me: Member?): Walkthrough {
            val answers = inspection.answers.associate { it.itemId to it.answers }
            val hazardCases = inspection.hazards.associate { it.itemId to it.caseIds }
            val failed = inspection.failed.toSet()
            val items = inspection.template.sections.flatMap { section ->
                section.items.map { item ->
                    val given = answers[item.id].orEmpty()
                    ItemRow(
                        item = item,
                        sectionTitle = section.title,
                        sectionTitleEn = section.titleEn,
                        answers = given,
                        hazard = item.id in failed,
                        conflict = given.size > 1,
                        hazardCases = hazardCases[item.id].orEmpty(),
                        choices = item.choices,
                    )
                }
            }
            return Walkthrough(
                inspection = inspection,
                items = items,
                answered = items.count { it.answered },
                total = items.size,
                conflictItems = items.filter { it.conflict }.map { it.item.id },
                hazards = failed.size,
                submitted = inspection.status == InspectionStatus.SUBMITTED,
                canAnswer = Rules.canAnswer(me, inspection),
                canSubmit = Rules.canSubmit(me, inspection),
            )
        }
    }
}

// ---- performing an action ----------------------------------------------------------------

/** What an action's form collected. Only the fields its [ActionForm] asks for are read. */
data class ActionInput(
    val text: String = "",
    val unitId: String = "",
    val deadline: Long = 0,
    val satisfaction: Int = 0,
    val visitedAt: Long = 0,
    /** The camera's file, for `ADD_PHOTO`. */
    val photo: String = "",
    val edit: CaseEdit = CaseEdit(),
) {
    /**
     * The timeline event for [action]. `EDIT` is not an event but a [CaseEdit], and
     * `ADD_PHOTO` takes a file ([Outpost.addPhoto]), not a hash.
     */
    fun event(action: CaseAction): EventKind = when (action) {
        CaseAction.ACCEPT -> EventKind.Accepted
        CaseAction.DISPATCH -> EventKind.Dispatched(unitId.trim(), deadline)
        CaseAction.PROGRESS -> EventKind.Progress(text.trim())
        CaseAction.RESOLVE -> EventKind.Resolved(text.trim())
        CaseAction.FOLLOW_UP -> EventKind.FollowUp(visitedAt, satisfaction.toLong(), text.trim())
        CaseAction.REOPEN -> EventKind.Reopened(text.trim())
        CaseAction.CANCEL -> EventKind.Cancelled(text.trim())
        CaseAction.COMMENT -> EventKind.Comment(text.trim())
        CaseAction.ADD_PHOTO -> throw IllegalArgumentException("a photo comes as a file; use Outpost.addPhoto")
        CaseAction.EDIT -> throw IllegalArgumentException("an edit is not a timeline event; use ActionInput.edit")
    }
}

/** Performs one button's action; core checks it again and throws if it no longer applies. */
suspend fun Outpost.perform(caseId: String, action: CaseAction, input: ActionInput = ActionInput()) {
    when (action) {
        CaseAction.EDIT -> edit(caseId, input.edit)
        CaseAction.ADD_PHOTO -> addPhoto(caseId, input.photo)
        else -> record(caseId, input.event(action))
    }
}

/** Sends the report form: the case and its photo files, in one transaction. */
suspend fun Outpost.report(draft: ReportDraft, gridId: String, fallbackTitle: String): String =
    report(draft.toNewCase(gridId, fallbackTitle), draft.photos)

// ---- the screens as flows ----------------------------------------------------------------

suspend fun Outpost.home(): Home = Home.of(member())

fun Outpost.caseScreen(caseId: String): Flow<CaseDetail> =
    caseDetail(caseId).map { CaseDetail.of(it, member()) }

fun Outpost.queueScreen(now: () -> Long = System::currentTimeMillis): Flow<List<CaseRow>> =
    openQueue().map { CaseRow.rows(member(), it, now()) }

fun Outpost.myReportsScreen(now: () -> Long = System::currentTimeMillis): Flow<List<CaseRow>> =
    myReports().map { CaseRow.rows(member(), it, now()) }

fun Outpost.walkthroughScreen(inspectionId: String): Flow<Walkthrough> =
    inspectionDetail(inspectionId).map { Walkthrough.of(it, member()) }
