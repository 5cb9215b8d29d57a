package app.outpost

import app.outpost.ffi.Action
import app.outpost.ffi.ActionOffer
import app.outpost.ffi.AnswerKind
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.ItemRule

/*
 * How the buttons core offers look and what they open. Which buttons a screen shows comes
 * from core through the bindings (`Cases.actions`, `Inspections.readiness`,
 * `Inspections.itemRules`, `Store.reportWithheld`, ...): the same rule the store applies when
 * an action is recorded and the server applies to a push. Nothing here decides who may do
 * what; this file only names labels and forms.
 */

/** The label of an action's button (string resource / Localizable key). */
val Action.key: String get() = "action_" + name.lowercase()

/** The form an action's button opens before the action is performed. */
val Action.form: ActionForm
    get() = when (this) {
        Action.ACCEPT -> ActionForm.NONE
        Action.DISPATCH -> ActionForm.DISPATCH
        Action.PROGRESS, Action.RESOLVE -> ActionForm.NOTE
        Action.FOLLOW_UP -> ActionForm.FOLLOW_UP
        Action.REOPEN, Action.CANCEL -> ActionForm.REASON
        Action.COMMENT -> ActionForm.COMMENT
        Action.ADD_PHOTO -> ActionForm.PHOTO
        Action.EDIT -> ActionForm.EDIT
        Action.MOVE -> ActionForm.MOVE
    }

/** What a screen asks for before it performs an action. */
enum class ActionForm { NONE, NOTE, REASON, COMMENT, DISPATCH, FOLLOW_UP, PHOTO, EDIT, MOVE }

/** The offered actions of core's answer, in core's (button) order. */
val List<ActionOffer>.allowed: List<Action> get() = filter { it.allowed }.map { it.action }

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

/**
 * The buttons of an item: core's choices where it lists them (pass/fail, yes/no), else the
 * one input its kind is entered with (a number field, a text field, the camera).
 */
val ItemRule.buttons: List<AnswerChoice>
    get() = when (kind) {
        AnswerKind.NUMBER -> listOf(AnswerChoice.NUMBER)
        AnswerKind.TEXT -> listOf(AnswerChoice.TEXT)
        AnswerKind.PHOTO -> listOf(AnswerChoice.PHOTO)
        AnswerKind.PASS_FAIL, AnswerKind.YES_NO -> choices.map { it.choice }
    }

/**
 * Whether answering [choice] needs at least one photo (the camera opens first): core's
 * `photoRequired` holds for every answer but "not applicable".
 */
fun ItemRule.needsPhoto(choice: AnswerChoice): Boolean = photoRequired && choice != AnswerChoice.NOT_APPLICABLE
