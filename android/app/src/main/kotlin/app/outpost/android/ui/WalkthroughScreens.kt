package app.outpost.android.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.FilterChip
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.outpost.AnswerChoice
import app.outpost.Home
import app.outpost.ItemRow
import app.outpost.Walkthrough
import app.outpost.android.R
import app.outpost.choice
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Site
import app.outpost.ffi.Template
import app.outpost.key
import app.outpost.localized
import app.outpost.needsPhoto
import app.outpost.walkthroughScreen
import kotlinx.coroutines.launch
import java.io.File
import java.util.Locale

private val language: String get() = Locale.getDefault().language

/** Walkthroughs of this device, newest first, and a form to start one in the member's grid. */
@Composable
fun WalkthroughsScreen(home: Home, onOpen: (String) -> Unit) {
    val outpost = LocalOutpost.current
    val platform = LocalPlatform.current
    val scope = rememberCoroutineScope()
    val list by remember(outpost) { outpost.inspections() }.collectAsStateWithLifecycle(emptyList())
    val templates by produceState(emptyList<Template>(), outpost) { value = outpost.templates() }
    var template by remember { mutableStateOf<Template?>(null) }
    var site by remember { mutableStateOf("") }
    var address by remember { mutableStateOf("") }
    var error by remember { mutableStateOf<String?>(null) }
    val grid = home.grid

    LazyColumn(modifier = Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        if (grid != null && home.canInspect) {
            item {
                Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                    Text(stringResource(R.string.walk_start), style = MaterialTheme.typography.titleMedium)
                    templates.forEach { t ->
                        FilterChip(selected = template == t, onClick = { template = t }, label = { Text(localized(t.title, t.titleEn, language)) })
                    }
                    OutlinedTextField(site, { site = it }, label = { Text(stringResource(R.string.walk_site)) }, singleLine = true)
                    OutlinedTextField(address, { address = it }, label = { Text(stringResource(R.string.walk_address)) }, singleLine = true)
                    error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
                    Button(enabled = template != null, onClick = {
                        val t = template ?: return@Button
                        scope.launch {
                            try {
                                val location = platform.locator.recent()
                                onOpen(outpost.startInspection(t.id, Site(site, grid, address.ifBlank { null }, location)))
                            } catch (e: OutpostException) {
                                error = e.message
                            }
                        }
                    }) { Text(stringResource(R.string.walk_begin)) }
                }
            }
        }
        items(list, key = { it.id }) { s ->
            Card(modifier = Modifier.fillMaxWidth().clickable { onOpen(s.id) }) {
                Column(modifier = Modifier.padding(12.dp)) {
                    Text(s.siteName, style = MaterialTheme.typography.titleMedium)
                    Text("${s.title} · ${label(s.status.key)}", style = MaterialTheme.typography.bodySmall)
                    Text(stringResource(R.string.walk_progress, s.answered, s.total))
                    if (s.failed > 0) Text(stringResource(R.string.walk_hazards, s.failed), color = Alarm)
                    if (s.conflicts > 0) Text(stringResource(R.string.badge_conflicts, s.conflicts))
                }
            }
        }
    }
}

/** One walkthrough: progress, every item with its answer buttons, conflicts, submit. */
@Composable
fun WalkthroughScreen(inspectionId: String) {
    val outpost = LocalOutpost.current
    val platform = LocalPlatform.current
    val scope = rememberCoroutineScope()
    val screen by remember(outpost, inspectionId) { outpost.walkthroughScreen(inspectionId) }.collectAsStateWithLifecycle(null)
    var error by remember { mutableStateOf<String?>(null) }
    var raised by remember { mutableStateOf<Int?>(null) }
    val w: Walkthrough = screen ?: return

    LazyColumn(modifier = Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item {
            Column {
                Text(w.inspection.site.name, style = MaterialTheme.typography.headlineSmall)
                Text(stringResource(R.string.walk_progress, w.answered, w.total))
                LinearProgressIndicator(progress = { w.progress }, modifier = Modifier.fillMaxWidth())
                if (w.conflictItems.isNotEmpty()) Text(stringResource(R.string.walk_conflicts, w.conflictItems.size), color = MaterialTheme.colorScheme.error)
                if (w.submitted) Text(label(w.inspection.status.key))
                raised?.let { Text(stringResource(R.string.walk_raised, it), color = Alarm) }
                error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
            }
        }
        items(w.items, key = { it.item.id }) { row ->
            ItemCard(row, w.canAnswer) { value, note, photos ->
                scope.launch {
                    try {
                        outpost.answer(inspectionId, row.item.id, value, note, photos)
                        error = null
                    } catch (e: OutpostException) {
                        error = e.message
                    }
                }
            }
        }
        if (w.canSubmit) {
            item {
                Button(modifier = Modifier.fillMaxWidth(), onClick = {
                    scope.launch {
                        try {
                            raised = outpost.submit(inspectionId).size
                            platform.sync.request(expedited = false)
                        } catch (e: OutpostException) {
                            error = e.message
                        }
                    }
                }) { Text(stringResource(R.string.walk_submit)) }
            }
        }
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun ItemCard(row: ItemRow, canAnswer: Boolean, onAnswer: (AnswerValue, String, List<String>) -> Unit) {
    val platform = LocalPlatform.current
    val scope = rememberCoroutineScope()
    var typed by remember(row.item.id) { mutableStateOf("") }
    var note by remember(row.item.id) { mutableStateOf(row.winner?.note.orEmpty()) }
    var pending by remember { mutableStateOf<Pair<AnswerChoice, File>?>(null) }
    val camera = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { ok ->
        val (choice, file) = pending ?: return@rememberLauncherForActivityResult
        pending = null
        if (ok) scope.launch {
            val photo = platform.photos.keep(file) ?: return@launch
            choice.value(typed)?.let { onAnswer(it, note, listOf(photo)) }
        }
    }

    fun choose(choice: AnswerChoice) {
        val value = choice.value(typed) ?: return
        if (row.item.needsPhoto(choice)) {
            val (file, uri) = platform.photos.newCapture()
            pending = choice to file
            camera.launch(uri)
        } else {
            onAnswer(value, note, emptyList())
        }
    }

    Card(modifier = Modifier.fillMaxWidth()) {
        Column(modifier = Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text(localized(row.sectionTitle, row.sectionTitleEn, language), style = MaterialTheme.typography.labelSmall)
            Text(localized(row.item.prompt, row.item.promptEn, language), style = MaterialTheme.typography.titleSmall)
            row.item.guidance?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
            Row {
                if (row.hazard) Marker(stringResource(R.string.badge_hazard), Alarm)
                if (row.conflict) Marker(stringResource(R.string.badge_conflict))
                if (row.hazardCases.isNotEmpty()) Marker(stringResource(R.string.walk_case_raised))
            }
            row.answers.forEachIndexed { i, a ->
                val shown = when (val v = a.value) {
                    is AnswerValue.Number -> v.value.toString()
                    is AnswerValue.Text -> v.value
                    else -> label(v.choice.key)
                }
                val who = if (i == 0) shown else stringResource(R.string.walk_other_answer, shown, a.by)
                Text(who, color = if (i == 0) MaterialTheme.colorScheme.onSurface else MaterialTheme.colorScheme.error)
            }
            if (canAnswer) {
                if (row.choices.any { it == AnswerChoice.NUMBER || it == AnswerChoice.TEXT }) {
                    OutlinedTextField(typed, { typed = it }, label = { Text(stringResource(R.string.walk_value)) }, singleLine = true)
                }
                OutlinedTextField(note, { note = it }, label = { Text(stringResource(R.string.form_note)) }, singleLine = true)
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    row.choices.forEach { c ->
                        FilterChip(
                            selected = row.winner?.value?.choice == c,
                            onClick = { choose(c) },
                            label = { Text(label(c.key) + if (row.item.needsPhoto(c)) " 📷" else "") },
                        )
                    }
                }
            }
        }
    }
}
