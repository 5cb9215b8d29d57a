package app.outpost

import app.outpost.ffi.AnswerKind
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.Case
import app.outpost.ffi.CaseSummary
import app.outpost.ffi.ChecklistItem
import app.outpost.ffi.Inspection
import app.outpost.ffi.InspectionStatus
import app.outpost.ffi.Member
import app.outpost.ffi.Role
import app.outpost.ffi.Status

/*
 * Which buttons a screen offers. Core decides every action when it is recorded
 * (`permit` and `transition` in core/src/case/fold.rs, `create_in` in
 * core/src/store/cases.rs, `may_inspect` and `check_answer` for checklists); this file
 * mirrors those decisions so that a screen never offers what core would refuse and never
 * hides what core would take. ActionSweepTest and ChoiceSweepTest hold the mirror to core
 * through the bindings, for every role, state and action. Core stays the judge: a
 * refusal (another device changed the case meanwhile) arrives as an OutpostException.
 */

/** One button on a case. [key] names its label (string resource / Localizable key). */
enum class CaseAction(val form: ActionForm) {
    ACCEPT(ActionForm.NONE),
    DISPATCH(ActionForm.DISPATCH),
    PROGRESS(ActionForm.NOTE),
    RESOLVE(ActionForm.NOTE),
    FOLLOW_UP(ActionForm.FOLLOW_UP),
    REOPEN(ActionForm.REASON),
    CANCEL(ActionForm.REASON),
    COMMENT(ActionForm.COMMENT),
    ADD_PHOTO(ActionForm.PHOTO),
    EDIT(ActionForm.EDIT),
    ;

    val key: String get() = "action_" + name.lowercase()
}

/** What a screen asks for before it performs an action. */
enum class ActionForm { NONE, NOTE, REASON, COMMENT, DISPATCH, FOLLOW_UP, PHOTO, EDIT }

/** Why an action is not offered, in the order core checks. */
enum class Denial { NO_MEMBER, OUT_OF_SCOPE, ROLE, STATE }

/** The facts about a case that decide who may act on it; a detail and a list row both carry them. */
data class CaseFacts(
    val reporterId: String,
    val gridId: String,
    val assignedUnit: String?,
    val status: Status,
)

val Case.facts: CaseFacts get() = CaseFacts(reporterId, gridId, assignedUnit, status)
val CaseSummary.facts: CaseFacts get() = CaseFacts(reporterId, gridId, assignedUnit, status)

/** Still needs someone's work: listed in the open queue, can become overdue. */
val Status.isOpen: Boolean
    get() = this != Status.RESOLVED && this != Status.CLOSED && this != Status.CANCELLED

object Rules {
    /** The actions [member] is offered on a case, in button order. */
    fun actions(member: Member?, case: CaseFacts): List<CaseAction> =
        CaseAction.entries.filter { denial(member, case, it) == null }

    fun allows(member: Member?, case: CaseFacts, action: CaseAction): Boolean = denial(member, case, action) == null

    /**
     * Why core would refuse [action]: `OUT_OF_SCOPE` and `ROLE` come back from core as
     * `Forbidden`, `STATE` as `WrongState`, `NO_MEMBER` as `NoMember`.
     */
    fun denial(member: Member?, case: CaseFacts, action: CaseAction): Denial? = when {
        member == null -> Denial.NO_MEMBER
        !inScope(member, case) -> Denial.OUT_OF_SCOPE
        !roleAllows(member.role, case.status, action) -> Denial.ROLE
        !fits(case.status, action) -> Denial.STATE
        else -> null
    }

    /** Who may act on a case at all. */
    fun inScope(member: Member, case: CaseFacts): Boolean = when (member.role) {
        Role.ADMIN -> true
        Role.COURIER -> case.reporterId == member.id
        Role.GRID_MEMBER, Role.GRID_LEAD -> case.gridId in member.grids
        Role.RESPONDER -> case.assignedUnit != null && case.assignedUnit == member.unitId && case.status.isOpen
    }

    private fun roleAllows(role: Role, status: Status, action: CaseAction): Boolean = when (role) {
        Role.ADMIN, Role.GRID_LEAD -> true
        Role.COURIER -> when (action) {
            CaseAction.COMMENT, CaseAction.ADD_PHOTO -> true
            CaseAction.CANCEL, CaseAction.EDIT -> status == Status.NEW
            else -> false
        }
        Role.GRID_MEMBER -> action in setOf(
            CaseAction.COMMENT, CaseAction.ADD_PHOTO, CaseAction.PROGRESS, CaseAction.RESOLVE, CaseAction.EDIT,
        )
        Role.RESPONDER -> action in setOf(CaseAction.COMMENT, CaseAction.ADD_PHOTO, CaseAction.PROGRESS, CaseAction.RESOLVE)
    }

    /** The state machine of the fold: which states an action may start from. */
    fun fits(status: Status, action: CaseAction): Boolean = when (action) {
        CaseAction.ACCEPT -> status == Status.NEW || status == Status.REOPENED
        CaseAction.DISPATCH -> status in setOf(Status.NEW, Status.ACCEPTED, Status.REOPENED, Status.DISPATCHED, Status.IN_PROGRESS)
        CaseAction.PROGRESS -> status in setOf(Status.ACCEPTED, Status.REOPENED, Status.DISPATCHED, Status.IN_PROGRESS)
        CaseAction.RESOLVE, CaseAction.CANCEL -> status.isOpen
        CaseAction.FOLLOW_UP -> status == Status.RESOLVED
        CaseAction.REOPEN -> !status.isOpen
        CaseAction.COMMENT, CaseAction.ADD_PHOTO, CaseAction.EDIT -> true
    }

    /** May [member] open a case in [gridId] (the report form, the distress button)? */
    fun canReport(member: Member?, gridId: String): Boolean = when (member?.role) {
        null, Role.RESPONDER -> false
        Role.COURIER, Role.ADMIN -> true
        Role.GRID_MEMBER, Role.GRID_LEAD -> gridId in member.grids
    }

    /** May [member] walk checklists in [gridId]? */
    fun canInspect(member: Member?, gridId: String): Boolean = when (member?.role) {
        Role.ADMIN -> true
        Role.GRID_MEMBER, Role.GRID_LEAD -> gridId in member.grids
        else -> false
    }

    fun canAnswer(member: Member?, inspection: Inspection): Boolean =
        inspection.status == InspectionStatus.IN_PROGRESS && canInspect(member, inspection.site.gridId)

    /** Submit is offered once every item has an answer. */
    fun canSubmit(member: Member?, inspection: Inspection): Boolean =
        canAnswer(member, inspection) && inspection.unanswered.isEmpty()
}

/** One answer button on a checklist item. */
enum class AnswerChoice {
    PASS, FAIL, NOT_APPLICABLE, YES, NO, NUMBER, TEXT, PHOTO;

    val key: String get() = "answer_" + name.lowercase()

    /** The value to store; [input] is what was typed for `NUMBER` and `TEXT` (null: not a number). */
    fun value(input: String = ""): AnswerValue? = when (this) {
        PASS -> AnswerValue.Pass
        FAIL -> AnswerValue.Fail
        NOT_APPLICABLE -> AnswerValue.NotApplicable
        YES -> AnswerValue.Yes
        NO -> AnswerValue.No
        NUMBER -> input.trim().replace(',', '.').toDoubleOrNull()?.takeIf { it.isFinite() }?.let { AnswerValue.Number(it) }
        TEXT -> AnswerValue.Text(input.trim())
        PHOTO -> AnswerValue.Photo
    }
}

/** The button that stands for a stored answer (to label it, and to mark it as chosen). */
val AnswerValue.choice: AnswerChoice
    get() = when (this) {
        AnswerValue.Pass -> AnswerChoice.PASS
        AnswerValue.Fail -> AnswerChoice.FAIL
        AnswerValue.NotApplicable -> AnswerChoice.NOT_APPLICABLE
        AnswerValue.Yes -> AnswerChoice.YES
        AnswerValue.No -> AnswerChoice.NO
        is AnswerValue.Number -> AnswerChoice.NUMBER
        is AnswerValue.Text -> AnswerChoice.TEXT
        AnswerValue.Photo -> AnswerChoice.PHOTO
    }

/** The answers an item takes, as core's `check_answer` accepts them. */
val ChecklistItem.choices: List<AnswerChoice>
    get() = when (answer) {
        AnswerKind.PASS_FAIL -> listOf(AnswerChoice.PASS, AnswerChoice.FAIL, AnswerChoice.NOT_APPLICABLE)
        AnswerKind.YES_NO -> listOf(AnswerChoice.YES, AnswerChoice.NO, AnswerChoice.NOT_APPLICABLE)
        AnswerKind.NUMBER -> listOf(AnswerChoice.NUMBER)
        AnswerKind.TEXT -> listOf(AnswerChoice.TEXT)
        AnswerKind.PHOTO -> listOf(AnswerChoice.PHOTO)
    }

/** Whether answering [choice] needs at least one photo (the camera opens first). */
fun ChecklistItem.needsPhoto(choice: AnswerChoice): Boolean =
    (photoRequired || answer == AnswerKind.PHOTO) && choice != AnswerChoice.NOT_APPLICABLE
