package app.outpost.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.FilterChip
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableIntStateOf
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.unit.dp
import app.outpost.ActionForm
import app.outpost.ActionInput
import app.outpost.form
import app.outpost.key
import app.outpost.ffi.Action
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.ResponderUnit
import app.outpost.ffi.Urgency
import kotlinx.coroutines.launch

private const val DAY_MS = 24L * 60 * 60 * 1000

/** Deadlines a dispatch offers, in days. */
val DEADLINE_DAYS = listOf(1, 3, 7, 15)

/**
 * What an action asks for before it is performed, by its [ActionForm]: the unit and a
 * deadline for a dispatch, a satisfaction score and a note for a follow-up visit, a note, a
 * reason or a comment, a corrected description, the grid a case moves to. [error] is core's refusal, shown in place.
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun ActionDialog(
    action: Action,
    units: List<ResponderUnit>,
    busy: Boolean,
    error: String?,
    onConfirm: (ActionInput) -> Unit,
    onDismiss: () -> Unit,
) {
    var text by remember { mutableStateOf("") }
    var unit by remember { mutableStateOf("") }
    var days by remember { mutableIntStateOf(3) }
    var satisfaction by remember { mutableIntStateOf(5) }
    AlertDialog(
        onDismissRequest = onDismiss,
        title = { Text(t(action.key)) },
        text = {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                when (action.form) {
                    ActionForm.DISPATCH -> {
                        Text(t("form_unit"))
                        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                            units.forEach { u ->
                                FilterChip(selected = unit == u.id, onClick = { unit = u.id }, label = { Text(u.name) })
                            }
                        }
                        OutlinedTextField(unit, { unit = it }, label = { Text(t("form_unit")) }, singleLine = true)
                        Text(t("form_deadline_days"))
                        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                            DEADLINE_DAYS.forEach { d ->
                                FilterChip(selected = days == d, onClick = { days = d }, label = { Text(t("days", d)) })
                            }
                        }
                    }
                    ActionForm.FOLLOW_UP -> {
                        Text(t("form_satisfaction"))
                        FlowRow(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                            (1..5).forEach { s ->
                                FilterChip(selected = satisfaction == s, onClick = { satisfaction = s }, label = { Text("$s") })
                            }
                        }
                    }
                    else -> Unit
                }
                val hint = when (action.form) {
                    ActionForm.NOTE, ActionForm.FOLLOW_UP -> "form_note"
                    ActionForm.REASON -> "form_reason"
                    ActionForm.COMMENT -> "form_comment"
                    ActionForm.EDIT -> "form_edit_description"
                    ActionForm.MOVE -> "form_grid"
                    else -> null
                }
                if (hint != null) OutlinedTextField(text, { text = it }, label = { Text(t(hint)) }, minLines = 2)
                ErrorText(error)
            }
        },
        confirmButton = {
            TextButton(enabled = !busy, onClick = {
                val now = System.currentTimeMillis()
                onConfirm(
                    ActionInput(
                        text = text,
                        unitId = unit,
                        deadline = now + days * DAY_MS,
                        satisfaction = satisfaction,
                        visitedAt = now,
                        edit = CaseEdit(description = text),
                        gridId = text,
                    ),
                )
            }) { Text(t("confirm")) }
        },
        dismissButton = { TextButton(onClick = onDismiss) { Text(t("cancel")) } },
    )
}

/**
 * Performs [action] on a case: a photo action opens the camera at once; the others collect
 * their form in [ActionDialog]. Core checks the action once more; a refusal (another phone
 * changed the case meanwhile) stays on screen as core's message.
 */
@Composable
fun ActionRoute(session: Session, caseId: String, action: Action, urgency: Urgency, onDone: () -> Unit) {
    val scope = rememberCoroutineScope()
    var error by remember { mutableStateOf<String?>(null) }
    var busy by remember { mutableStateOf(false) }

    fun perform(input: ActionInput) {
        busy = true
        scope.launch {
            session.perform(caseId, action, input, urgency)
                .onSuccess { onDone() }
                .onFailure { error = it.readable }
            busy = false
        }
    }

    if (action.form == ActionForm.PHOTO) {
        LaunchedEffect(Unit) {
            session.takePhoto()
                .onSuccess { path -> if (path == null) onDone() else perform(ActionInput(photo = path)) }
                .onFailure { error = it.readable }
        }
        error?.let {
            AlertDialog(onDismissRequest = onDone, confirmButton = { TextButton(onClick = onDone) { Text(t("ok")) } }, text = { ErrorText(it) })
        }
        return
    }
    val units by produceState(emptyList<ResponderUnit>(), session) { value = session.units().getOrDefault(emptyList()) }
    ActionDialog(action, units, busy, error, onConfirm = ::perform, onDismiss = onDone)
}
