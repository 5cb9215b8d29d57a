package app.outpost.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.FilterChip
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.outpost.Home
import app.outpost.ReportDraft
import app.outpost.ffi.Category
import app.outpost.ffi.Urgency
import app.outpost.key
import kotlinx.coroutines.launch

/** The report form: category (which picks the usual urgency), urgency, note, photos, location. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun ReportScreen(
    draft: ReportDraft,
    locating: Boolean,
    busy: Boolean,
    error: String?,
    onDraft: (ReportDraft) -> Unit,
    onTakePhoto: () -> Unit,
    onSave: () -> Unit,
) {
    Column(
        modifier = Modifier.padding(16.dp).verticalScroll(rememberScrollState()),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text(t("report_category"), style = MaterialTheme.typography.titleSmall)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Category.entries.forEach { c ->
                FilterChip(selected = draft.category == c, onClick = { onDraft(draft.withCategory(c)) }, label = { Text(t(c.key)) })
            }
        }
        Text(t("report_urgency"), style = MaterialTheme.typography.titleSmall)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Urgency.entries.forEach { u ->
                FilterChip(selected = draft.urgency == u, onClick = { onDraft(draft.copy(urgency = u)) }, label = { Text(t(u.key)) })
            }
        }
        OutlinedTextField(
            value = draft.note,
            onValueChange = { onDraft(draft.copy(note = it)) },
            label = { Text(t("report_note")) },
            minLines = 3,
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedButton(onClick = onTakePhoto) { Text(t("take_photo")) }
        if (draft.photos.isNotEmpty()) Text(t("photo_count", draft.photos.size))
        val location = draft.location
        Text(
            when {
                locating -> t("location_searching")
                location == null -> t("location_none")
                else -> t("location_fix", location.lat, location.lon)
            },
            style = MaterialTheme.typography.bodySmall,
        )
        ErrorText(error)
        Button(onClick = onSave, enabled = !busy, modifier = Modifier.fillMaxWidth()) { Text(t("report_submit")) }
    }
}

/** The report form for [home]'s grid; once saved, the new case replaces the form. */
@Composable
fun ReportRoute(session: Session, home: Home, nav: Navigator) {
    val scope = rememberCoroutineScope()
    var draft by remember { mutableStateOf(ReportDraft()) }
    var locating by remember { mutableStateOf(true) }
    var busy by remember { mutableStateOf(false) }
    var error by remember { mutableStateOf<String?>(null) }
    LaunchedEffect(Unit) {
        val fix = session.platform.recentLocation() ?: session.platform.currentLocation()
        draft = draft.copy(location = fix)
        locating = false
    }
    val grid = home.grid ?: return
    val fallbackTitle = t(draft.category.key)
    ReportScreen(
        draft = draft,
        locating = locating,
        busy = busy,
        error = error,
        onDraft = { draft = it },
        onTakePhoto = {
            scope.launch {
                session.takePhoto()
                    .onSuccess { path -> if (path != null) draft = draft.copy(photos = draft.photos + path) }
                    .onFailure { error = it.readable }
            }
        },
        onSave = {
            busy = true
            scope.launch {
                session.report(draft, grid, fallbackTitle)
                    .onSuccess { id ->
                        nav.back()
                        nav.open(Route.Case(id))
                    }
                    .onFailure { error = it.readable }
                busy = false
            }
        },
    )
}
