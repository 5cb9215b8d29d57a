package app.outpost

import app.outpost.ffi.Action
import app.outpost.ffi.ActionOffer
import app.outpost.ffi.Answer
import app.outpost.ffi.Case
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.CaseSummary
import app.outpost.ffi.Category
import app.outpost.ffi.ChecklistItem
import app.outpost.ffi.EventKind
import app.outpost.ffi.HomeList
import app.outpost.ffi.HomeRows
import app.outpost.ffi.Inspection
import app.outpost.ffi.InspectionStatus
import app.outpost.ffi.InspectionSummary
import app.outpost.ffi.ItemRule
import app.outpost.ffi.Location
import app.outpost.ffi.Member
import app.outpost.ffi.NewCase
import app.outpost.ffi.Readiness
import app.outpost.ffi.Status
import app.outpost.ffi.TimelineEntry
import app.outpost.ffi.Urgency
import app.outpost.ffi.Withholding
import app.outpost.ffi.homeLists
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.map

/*
 * What each screen shows for a state, as plain data the Compose (and SwiftUI) code renders
 * without deciding anything: which buttons, lists and forms are offered is core's answer
 * (rules as data through the bindings), read together with the data it is about. Text comes
 * as keys: a string resource name on Android, a Localizable.strings key on iOS, the same key
 * on both (LabelKeysTest checks all four files).
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
        is EventKind.Moved -> "moved"
        is EventKind.Unknown -> "unknown"
    }

/** Chinese or English text of a checklist template, by the app's language. */
fun localized(zh: String, en: String, language: String): String =
    if (language.startsWith("zh") || en.isBlank()) zh else en

// ---- home --------------------------------------------------------------------------------

/** A tab of the home screen: the home page itself (flag, report, walkthrough), or one of core's lists. */
enum class Tab(val list: HomeList?) {
    HOME(null),
    MY_REPORTS(HomeList.MY_REPORTS),
    OPEN_CASES(HomeList.OPEN_CASES),
    OVERDUE(HomeList.OVERDUE),
    UNIT_QUEUE(HomeList.UNIT_QUEUE),
    WALKTHROUGHS(HomeList.WALKTHROUGHS),
    ;

    val key: String get() = "tab_" + name.lowercase()

    companion object {
        fun of(list: HomeList): Tab = when (list) {
            HomeList.MY_REPORTS -> MY_REPORTS
            HomeList.OPEN_CASES -> OPEN_CASES
            HomeList.OVERDUE -> OVERDUE
            HomeList.UNIT_QUEUE -> UNIT_QUEUE
            HomeList.WALKTHROUGHS -> WALKTHROUGHS
        }
    }
}

/**
 * The home screen and the tabs a member gets. [grid] is where a flag, a report or a
 * walkthrough goes (the member's first grid); [canFlag] shows the large "person in
 * distress" button, [canReport] the report form, [canInspect] the "start a walkthrough"
 * form, each as core answers for [grid] ([reportWithheld], [inspectWithheld]: why not, in
 * core's words). [lists] are core's home lists for the member's role, in order.
 */
data class Home(
    val member: Member?,
    val grid: String?,
    val canFlag: Boolean,
    val canReport: Boolean,
    val canInspect: Boolean,
    val reportWithheld: Withholding?,
    val inspectWithheld: Withholding?,
    val lists: List<HomeList>,
) {
    /** The home page when there is something to start there, then a tab per list. */
    val tabs: List<Tab>
        get() = (if (canFlag || canReport || canInspect) listOf(Tab.HOME) else emptyList()) + lists.map(Tab::of)

    companion object {
        /** Nobody enrolled: nothing offered. */
        val EMPTY = Home(null, null, false, false, false, null, null, emptyList())
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
            case.status == Status.RESOLVED || case.status == Status.CLOSED -> HANDLED
            case.acknowledged -> COMING
            else -> WAITING
        }
    }
}

/** One timeline row: what happened, its text, and why it no longer fits if it does not. */
data class TimelineRow(
    val entry: TimelineEntry,
    val key: String,
    /** What the person wrote (note, reason, comment, a corrected title or description), the unit, or the grid moved to. */
    val text: String?,
    /** The corrections of an edit: category and urgency have their own labels ([Category.key], [Urgency.key]). */
    val edit: CaseEdit?,
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
                is EventKind.Edited -> listOfNotNull(k.edit.title, k.edit.description).joinToString("\n")
                is EventKind.Moved -> k.gridId
                is EventKind.Unknown -> k.name
                else -> null
            }?.takeIf { it.isNotBlank() }
            return TimelineRow(
                entry = entry,
                key = k.key,
                text = text,
                edit = (k as? EventKind.Edited)?.edit,
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
    /** The buttons: the actions core offers this member on this case, in core's order. */
    val actions: List<Action>,
    /** The actions core withholds, each with its reason (to grey out and explain, or leave out). */
    val withheld: List<ActionOffer>,
) {
    companion object {
        /** [offers] is core's answer for this case and member (`Cases.actions`). */
        fun of(case: Case, me: Member?, offers: List<ActionOffer>): CaseDetail = CaseDetail(
            case = case,
            statusKey = case.status.key,
            urgencyKey = case.urgency.key,
            categoryKey = case.category.key,
            lifeSafety = case.urgency == Urgency.LIFE_SAFETY,
            acknowledgement = if (me != null && me.id == case.reporterId) Acknowledgement.of(case) else null,
            overdue = case.overdue,
            timeline = case.timeline.map { TimelineRow.of(it, me) },
            conflicts = case.conflicts.toInt(),
            actions = offers.allowed,
            withheld = offers.filter { !it.allowed },
        )
    }
}

// ---- lists -------------------------------------------------------------------------------

/** One row of a case list: the open cases, "my reports", the overdue list, a unit's queue. */
data class CaseRow(
    val summary: CaseSummary,
    val statusKey: String,
    val urgencyKey: String,
    val categoryKey: String,
    val lifeSafety: Boolean,
    /** Still needs someone's work (core's `is_open`). */
    val open: Boolean,
    /** Open and past its deadline (core's `is_overdue`). */
    val overdue: Boolean,
    val conflict: Boolean,
    /** The buttons on the row itself: accept and dispatch, where core offers them. */
    val quickActions: List<Action>,
    val ageMs: Long,
) {
    companion object {
        /** The actions a row shows as buttons of its own (the rest are on the case screen). */
        val QUICK: Set<Action> = setOf(Action.ACCEPT, Action.DISPATCH)

        /** [offers] is core's answer for this row's case and the member (`Cases.actions`). */
        fun of(s: CaseSummary, offers: List<ActionOffer>, now: Long): CaseRow = CaseRow(
            summary = s,
            statusKey = s.status.key,
            urgencyKey = s.urgency.key,
            categoryKey = s.category.key,
            lifeSafety = s.urgency == Urgency.LIFE_SAFETY,
            open = s.isOpen,
            overdue = s.isOverdue,
            conflict = s.conflicts > 0,
            quickActions = offers.allowed.filter { it in QUICK },
            ageMs = (now - s.createdAt).coerceAtLeast(0),
        )
    }
}

/** One of core's home lists as a screen shows it. */
sealed interface ListScreen {
    val list: HomeList

    data class Cases(override val list: HomeList, val rows: List<CaseRow>) : ListScreen

    data class Walkthroughs(override val list: HomeList, val rows: List<InspectionSummary>) : ListScreen
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
    /** How core takes answers to this item. */
    val rule: ItemRule,
    /** The answer buttons ([ItemRule.buttons]). */
    val choices: List<AnswerChoice>,
) {
    /** Whether answering [choice] opens the camera first. */
    fun needsPhoto(choice: AnswerChoice): Boolean = rule.needsPhoto(choice)

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
    /** Items still without an answer, in checklist order (core's readiness). */
    val missing: List<String>,
    /** Why this member may not submit at all, in core's words (null: only [missing] stands in the way). */
    val submitWithheld: String?,
) {
    /** 0.0 to 1.0, for a progress bar. */
    val progress: Float get() = if (total == 0) 1f else answered.toFloat() / total

    companion object {
        /** [readiness] and [rules] are core's answers for this walkthrough and member. */
        fun of(inspection: Inspection, readiness: Readiness, rules: List<ItemRule>): Walkthrough {
            val byItem = rules.associateBy { it.itemId }
            val answers = inspection.answers.associate { it.itemId to it.answers }
            val hazardCases = inspection.hazards.associate { it.itemId to it.caseIds }
            val failed = inspection.failed.toSet()
            val items = inspection.template.sections.flatMap { section ->
                section.items.map { item ->
                    val given = answers[item.id].orEmpty()
                    val rule = byItem[item.id] ?: throw IllegalArgumentException("core gave no rule for item ${item.id}")
                    ItemRow(
                        item = item,
                        sectionTitle = section.title,
                        sectionTitleEn = section.titleEn,
                        answers = given,
                        hazard = item.id in failed,
                        conflict = given.size > 1,
                        hazardCases = hazardCases[item.id].orEmpty(),
                        rule = rule,
                        choices = rule.buttons,
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
                canAnswer = readiness.canAnswer,
                canSubmit = readiness.canSubmit,
                missing = readiness.missing,
                submitWithheld = readiness.reason,
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
    /** The grid a case moves to, for `MOVE`. */
    val gridId: String = "",
    val edit: CaseEdit = CaseEdit(),
) {
    /**
     * The timeline event [Outpost.record] takes for [action]. `EDIT` ([Outpost.edit]),
     * `ADD_PHOTO` (a file, [Outpost.addPhoto]) and `MOVE` ([Outpost.moveToGrid]) have calls
     * of their own; [Outpost.perform] picks the right one.
     */
    fun event(action: Action): EventKind = when (action) {
        Action.ACCEPT -> EventKind.Accepted
        Action.DISPATCH -> EventKind.Dispatched(unitId.trim(), deadline)
        Action.PROGRESS -> EventKind.Progress(text.trim())
        Action.RESOLVE -> EventKind.Resolved(text.trim())
        Action.FOLLOW_UP -> EventKind.FollowUp(visitedAt, satisfaction.toLong(), text.trim())
        Action.REOPEN -> EventKind.Reopened(text.trim())
        Action.CANCEL -> EventKind.Cancelled(text.trim())
        Action.COMMENT -> EventKind.Comment(text.trim())
        Action.ADD_PHOTO -> throw IllegalArgumentException("a photo comes as a file; use Outpost.addPhoto")
        Action.EDIT -> throw IllegalArgumentException("an edit is not a timeline event; use Outpost.edit")
        Action.MOVE -> throw IllegalArgumentException("a move has its own call; use Outpost.moveToGrid")
    }
}

/** Performs one button's action; core checks it again and throws if it no longer applies. */
suspend fun Outpost.perform(caseId: String, action: Action, input: ActionInput = ActionInput()) {
    when (action) {
        Action.EDIT -> edit(caseId, input.edit)
        Action.ADD_PHOTO -> addPhoto(caseId, input.photo)
        Action.MOVE -> moveToGrid(caseId, input.gridId.trim())
        else -> record(caseId, input.event(action))
    }
}

/** Sends the report form: the case and its photo files, in one transaction. */
suspend fun Outpost.report(draft: ReportDraft, gridId: String, fallbackTitle: String): String =
    report(draft.toNewCase(gridId, fallbackTitle), draft.photos)

// ---- the screens as flows ----------------------------------------------------------------

/** The home screen: core's answers for the member's first grid and role. */
suspend fun Outpost.home(): Home {
    val me = member() ?: return Home.EMPTY
    val grid = me.grids.firstOrNull()
    val report = grid?.let { reportWithheld(it) }
    val inspect = grid?.let { inspectWithheld(it) }
    return Home(
        member = me,
        grid = grid,
        canFlag = grid != null && report == null,
        canReport = grid != null && report == null,
        canInspect = grid != null && inspect == null,
        reportWithheld = report,
        inspectWithheld = inspect,
        lists = homeLists(me.role),
    )
}

/** One case with the buttons core offers on it; re-read when the case or the member changes. */
fun Outpost.caseScreen(caseId: String): Flow<CaseDetail> =
    watch({ caseId in it.caseIds || it.memberChanged }) {
        CaseDetail.of(cases.get(caseId), store.member(), cases.actions(caseId))
    }

/** One of core's home lists, each case row with core's offers on it. */
fun Outpost.listScreen(list: HomeList, now: () -> Long = System::currentTimeMillis): Flow<ListScreen> =
    watch({ it.caseIds.isNotEmpty() || it.inspectionIds.isNotEmpty() || it.memberChanged }) {
        when (val rows = cases.homeList(list, Outpost.PAGE, 0)) {
            is HomeRows.Cases -> ListScreen.Cases(list, rows.rows.map { CaseRow.of(it, cases.actions(it.id), now()) })
            is HomeRows.Walkthroughs -> ListScreen.Walkthroughs(list, rows.rows)
        }
    }

/** The rows of a case list of core's ([HomeList.WALKTHROUGHS] has none). */
fun Outpost.caseRows(list: HomeList, now: () -> Long = System::currentTimeMillis): Flow<List<CaseRow>> =
    listScreen(list, now).map { (it as? ListScreen.Cases)?.rows.orEmpty() }

fun Outpost.myReportsScreen(now: () -> Long = System::currentTimeMillis): Flow<List<CaseRow>> =
    caseRows(HomeList.MY_REPORTS, now)

/** A walkthrough with core's readiness and item rules; re-read when it or the member changes. */
fun Outpost.walkthroughScreen(inspectionId: String): Flow<Walkthrough> =
    watch({ inspectionId in it.inspectionIds || it.memberChanged }) {
        Walkthrough.of(inspections.get(inspectionId), inspections.readiness(inspectionId), inspections.itemRules(inspectionId))
    }
