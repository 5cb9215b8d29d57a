package app.outpost.android.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
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
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import app.outpost.ActionForm
import app.outpost.ActionInput
import app.outpost.CaseAction
import app.outpost.SyncPolicy
import app.outpost.android.R
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.OutpostException
import app.outpost.ffi.ResponderUnit
import app.outpost.ffi.Urgency
import app.outpost.perform
import kotlinx.coroutines.launch
import java.io.File

private const val DAY_MS = 24L * 60 * 60 * 1000

/**
 * Collects what [action] needs (its [ActionForm]) and performs it. Core checks it once more;
 * a refusal (another phone changed the case meanwhile) is shown with core's message.
 */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun ActionDialog(caseId: String, action: CaseAction, urgency: Urgency, onDone: () -> Unit) {
    val outpost = LocalOutpost.current
    val platform = LocalPlatform.current
    val scope = rememberCoroutineScope()
    var text by remember { mutableStateOf("") }
    var unit by remember { mutableStateOf("") }
    var days by remember { mutableIntStateOf(3) }
    var satisfaction by remember { mutableIntStateOf(5) }
    var error by remember { mutableStateOf<String?>(null) }
    // The responder units from the server's directory (none before enrollment).
    val units by produceState(emptyList<ResponderUnit>(), outpost) {
        value = runCatching { outpost.directory()?.units }.getOrNull().orEmpty()
    }

    fun submit(input: ActionInput) = scope.launch {
        try {
            outpost.perform(caseId, action, input)
            platform.sync.request(expedited = SyncPolicy.expedite(urgency))
            onDone()
        } catch (e: OutpostException) {
            error = e.message
        }
    }

    if (action.form == ActionForm.PHOTO) {
        var capture by remember { mutableStateOf<File?>(null) }
        val camera = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { ok ->
            val file = capture
            if (!ok || file == null) onDone() else scope.launch {
                platform.photos.keep(file)?.let { submit(ActionInput(photo = it)) } ?: onDone()
            }
        }
        LaunchedEffect(Unit) {
            val (file, uri) = platform.photos.newCapture()
            capture = file
            camera.launch(uri)
        }
        error?.let { AlertDialog(onDismissRequest = onDone, confirmButton = { TextButton(onClick = onDone) { Text(stringResource(R.string.ok)) } }, text = { Text(it) }) }
        return
    }

    AlertDialog(
        onDismissRequest = onDone,
        title = { Text(label(action.key)) },
        text = {
            Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                when (action.form) {
                    ActionForm.DISPATCH -> {
                        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                            units.forEach { u ->
                                FilterChip(selected = unit == u.id, onClick = { unit = u.id }, label = { Text(u.name) })
                            }
                        }
                        OutlinedTextField(unit, { unit = it }, label = { Text(stringResource(R.string.form_unit)) }, singleLine = true)
                        Text(stringResource(R.string.form_deadline_days))
                        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                            listOf(1, 3, 7, 15).forEach { d ->
                                FilterChip(selected = days == d, onClick = { days = d }, label = { Text(stringResource(R.string.days, d)) })
                            }
                        }
                    }
                    ActionForm.FOLLOW_UP -> {
                        Text(stringResource(R.string.form_satisfaction))
                        Row(horizontalArrangement = Arrangement.spacedBy(4.dp)) {
                            (1..5).forEach { s ->
                                FilterChip(selected = satisfaction == s, onClick = { satisfaction = s }, label = { Text("$s") })
                            }
                        }
                    }
                    else -> Unit
                }
                val hint = when (action.form) {
                    ActionForm.NOTE, ActionForm.FOLLOW_UP -> R.string.form_note
                    ActionForm.REASON -> R.string.form_reason
                    ActionForm.COMMENT -> R.string.form_comment
                    ActionForm.EDIT -> R.string.form_edit_description
                    else -> null
                }
                if (hint != null) OutlinedTextField(text, { text = it }, label = { Text(stringResource(hint)) }, minLines = 2)
                error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
            }
        },
        confirmButton = {
            TextButton(onClick = {
                val now = System.currentTimeMillis()
                submit(
                    ActionInput(
                        text = text,
                        unitId = unit,
                        deadline = now + days * DAY_MS,
                        satisfaction = satisfaction,
                        visitedAt = now,
                        edit = CaseEdit(description = text),
                    ),
                )
            }) { Text(stringResource(R.string.confirm)) }
        },
        dismissButton = { TextButton(onClick = onDone) { Text(stringResource(R.string.cancel)) } },
    )
}
