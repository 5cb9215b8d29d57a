package app.outpost.screens

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
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.testTag
import androidx.compose.ui.unit.dp
import app.outpost.AnswerChoice
import app.outpost.Home
import app.outpost.ItemRow
import app.outpost.Walkthrough
import app.outpost.choice
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.InspectionSummary
import app.outpost.ffi.Template
import app.outpost.key
import app.outpost.localized
import kotlinx.coroutines.launch

/** What the "start a walkthrough" form holds. */
data class WalkStart(val templateId: String? = null, val site: String = "", val address: String = "")

/** Walkthroughs on this phone, newest first, and the form to start one in the member's grid. */
@Composable
fun WalkthroughsScreen(
    canStart: Boolean,
    templates: List<Template>,
    start: WalkStart,
    list: List<InspectionSummary>,
    error: String?,
    onStart: (WalkStart) -> Unit,
    onBegin: () -> Unit,
    onOpen: (String) -> Unit,
) {
    val language = LocalTexts.current.language
    LazyColumn(modifier = Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        if (canStart) {
            item {
                Column(verticalArrangement = Arrangement.spacedBy(8.dp)) {
                    Text(t("walk_start"), style = MaterialTheme.typography.titleMedium)
                    templates.forEach { tpl ->
                        FilterChip(
                            selected = start.templateId == tpl.id,
                            onClick = { onStart(start.copy(templateId = tpl.id)) },
                            label = { Text(localized(tpl.title, tpl.titleEn, language)) },
                        )
                    }
                    OutlinedTextField(start.site, { onStart(start.copy(site = it)) }, label = { Text(t("walk_site")) }, singleLine = true)
                    OutlinedTextField(start.address, { onStart(start.copy(address = it)) }, label = { Text(t("walk_address")) }, singleLine = true)
                    ErrorText(error)
                    Button(enabled = start.templateId != null, onClick = onBegin) { Text(t("walk_begin")) }
                }
            }
        }
        items(list, key = { it.id }) { s ->
            Card(modifier = Modifier.fillMaxWidth().clickable { onOpen(s.id) }) {
                Column(modifier = Modifier.padding(12.dp)) {
                    Text(s.siteName, style = MaterialTheme.typography.titleMedium)
                    Text("${s.title} · ${t(s.status.key)}", style = MaterialTheme.typography.bodySmall)
                    Text(t("walk_progress", s.answered, s.total))
                    if (s.failed > 0) Text(t("walk_hazards", s.failed), color = Alarm)
                    if (s.conflicts > 0) Text(t("badge_conflicts", s.conflicts), color = MaterialTheme.colorScheme.error)
                }
            }
        }
    }
}

@Composable
fun WalkthroughsRoute(session: Session, home: Home, nav: Navigator) {
    val scope = rememberCoroutineScope()
    val list by remember(session) { session.walkthroughs() }.collectAsState(emptyList())
    val templates by produceState(emptyList<Template>(), session) { value = session.templates().getOrDefault(emptyList()) }
    var start by remember { mutableStateOf(WalkStart()) }
    var error by remember { mutableStateOf<String?>(null) }
    val grid = home.grid
    WalkthroughsScreen(
        canStart = grid != null && home.canInspect,
        templates = templates,
        start = start,
        list = list,
        error = error,
        onStart = { start = it },
        onBegin = {
            val templateId = start.templateId
            if (grid != null && templateId != null) {
                scope.launch {
                    session.startWalkthrough(templateId, start.site, grid, start.address)
                        .onSuccess { nav.open(Route.Walkthrough(it)) }
                        .onFailure { error = it.readable }
                }
            }
        },
        onOpen = { nav.open(Route.Walkthrough(it)) },
    )
}

/** What answering one item collected: the button, what was typed, the note. */
data class AnswerPick(val item: ItemRow, val choice: AnswerChoice, val typed: String, val note: String)

/**
 * One walkthrough: progress, every item with the answer buttons its kind takes, answers made
 * on other phones at the same time (a conflict: all are shown, the first counts), hazards,
 * and submit once every item has an answer.
 */
@Composable
fun WalkthroughScreen(w: Walkthrough, raised: Int?, error: String?, onAnswer: (AnswerPick) -> Unit, onSubmit: () -> Unit) {
    LazyColumn(modifier = Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item {
            Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text(w.inspection.site.name, style = MaterialTheme.typography.headlineSmall)
                Text(t("walk_progress", w.answered, w.total))
                LinearProgressIndicator(progress = { w.progress }, modifier = Modifier.fillMaxWidth())
                if (w.conflictItems.isNotEmpty()) Text(t("walk_conflicts", w.conflictItems.size), color = MaterialTheme.colorScheme.error)
                if (w.hazards > 0) Text(t("walk_hazards", w.hazards), color = Alarm)
                if (w.submitted) Text(t(w.inspection.status.key))
                raised?.let { Text(t("walk_raised", it), color = Alarm) }
                ErrorText(error)
            }
        }
        items(w.items, key = { it.item.id }) { row -> ItemCard(row, w.canAnswer, onAnswer) }
        if (w.canSubmit) {
            item { Button(modifier = Modifier.fillMaxWidth(), onClick = onSubmit) { Text(t("walk_submit")) } }
        }
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun ItemCard(row: ItemRow, canAnswer: Boolean, onAnswer: (AnswerPick) -> Unit) {
    val language = LocalTexts.current.language
    var typed by remember(row.item.id) { mutableStateOf("") }
    var note by remember(row.item.id) { mutableStateOf(row.winner?.note.orEmpty()) }
    Card(modifier = Modifier.fillMaxWidth().testTag("item:${row.item.id}")) {
        Column(modifier = Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Text(localized(row.sectionTitle, row.sectionTitleEn, language), style = MaterialTheme.typography.labelSmall)
            Text(localized(row.item.prompt, row.item.promptEn, language), style = MaterialTheme.typography.titleSmall)
            row.item.guidance?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
            if (row.hazard || row.conflict || row.hazardCases.isNotEmpty()) {
                Row {
                    if (row.hazard) Marker(t("badge_hazard"), Alarm)
                    if (row.conflict) Marker(t("badge_conflict"), MaterialTheme.colorScheme.error)
                    if (row.hazardCases.isNotEmpty()) Marker(t("walk_case_raised"))
                }
            }
            row.answers.forEachIndexed { i, a ->
                val shown = when (val v = a.value) {
                    is AnswerValue.Number -> v.value.toString()
                    is AnswerValue.Text -> v.value
                    else -> t(v.choice.key)
                }
                val line = if (i == 0) shown else t("walk_other_answer", shown, a.by)
                Text(line, color = if (i == 0) MaterialTheme.colorScheme.onSurface else MaterialTheme.colorScheme.error)
            }
            if (canAnswer) {
                if (row.choices.any { it == AnswerChoice.NUMBER || it == AnswerChoice.TEXT }) {
                    OutlinedTextField(typed, { typed = it }, label = { Text(t("walk_value")) }, singleLine = true)
                }
                OutlinedTextField(note, { note = it }, label = { Text(t("form_note")) }, singleLine = true)
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    row.choices.forEach { c ->
                        FilterChip(
                            selected = row.winner?.value?.choice == c,
                            onClick = { onAnswer(AnswerPick(row, c, typed, note)) },
                            label = { Text(t(c.key) + if (row.needsPhoto(c)) " (${t("answer_photo")})" else "") },
                        )
                    }
                }
            }
        }
    }
}

/** Answers open the camera first where the item needs a photo; core checks every answer. */
@Composable
fun WalkthroughRoute(session: Session, inspectionId: String) {
    val scope = rememberCoroutineScope()
    val texts = LocalTexts.current
    val screen by remember(session, inspectionId) { session.walkthrough(inspectionId) }.collectAsState(null)
    var error by remember { mutableStateOf<String?>(null) }
    var raised by remember { mutableStateOf<Int?>(null) }
    val w = screen ?: return
    WalkthroughScreen(
        w = w,
        raised = raised,
        error = error,
        onAnswer = { pick ->
            scope.launch {
                val value = pick.choice.value(pick.typed)
                if (value == null) {
                    error = texts.get("walk_not_a_number")
                    return@launch
                }
                val photos = if (pick.item.needsPhoto(pick.choice)) {
                    val taken = session.takePhoto()
                    val hash = taken.getOrElse {
                        error = it.readable
                        return@launch
                    } ?: return@launch
                    listOf(hash)
                } else {
                    emptyList()
                }
                session.answer(inspectionId, pick.item.item.id, value, pick.note, photos)
                    .onSuccess { error = null }
                    .onFailure { error = it.readable }
            }
        },
        onSubmit = {
            scope.launch {
                session.submit(inspectionId)
                    .onSuccess { raised = it.size }
                    .onFailure { error = it.readable }
            }
        },
    )
}
