package app.outpost.android.ui

import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
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
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import app.outpost.Home
import app.outpost.ReportDraft
import app.outpost.SyncPolicy
import app.outpost.android.R
import app.outpost.ffi.Category
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Urgency
import app.outpost.key
import app.outpost.report
import kotlinx.coroutines.launch
import java.io.File

/** The report form: category, urgency, photo from the camera, note, location. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun ReportScreen(home: Home, onSaved: (String) -> Unit) {
    val outpost = LocalOutpost.current
    val platform = LocalPlatform.current
    val scope = rememberCoroutineScope()
    var draft by remember { mutableStateOf(ReportDraft()) }
    var locating by remember { mutableStateOf(true) }
    var error by remember { mutableStateOf<String?>(null) }
    var capture by remember { mutableStateOf<File?>(null) }
    val camera = rememberLauncherForActivityResult(ActivityResultContracts.TakePicture()) { ok ->
        val file = capture ?: return@rememberLauncherForActivityResult
        if (ok) scope.launch { platform.photos.keep(file)?.let { draft = draft.copy(photos = draft.photos + it) } }
    }
    LaunchedEffect(Unit) {
        val fix = platform.locator.recent() ?: platform.locator.current()
        draft = draft.copy(location = fix)
        locating = false
    }
    val fallbackTitle = label(draft.category.key)
    val grid = home.grid ?: return

    Column(
        modifier = Modifier.padding(16.dp).verticalScroll(rememberScrollState()),
        verticalArrangement = Arrangement.spacedBy(12.dp),
    ) {
        Text(stringResource(R.string.report_category), style = MaterialTheme.typography.titleSmall)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Category.entries.forEach { c ->
                FilterChip(selected = draft.category == c, onClick = { draft = draft.withCategory(c) }, label = { Text(label(c.key)) })
            }
        }
        Text(stringResource(R.string.report_urgency), style = MaterialTheme.typography.titleSmall)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Urgency.entries.forEach { u ->
                FilterChip(selected = draft.urgency == u, onClick = { draft = draft.copy(urgency = u) }, label = { Text(label(u.key)) })
            }
        }
        OutlinedTextField(
            value = draft.note,
            onValueChange = { draft = draft.copy(note = it) },
            label = { Text(stringResource(R.string.report_note)) },
            minLines = 3,
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedButton(onClick = {
            val (file, uri) = platform.photos.newCapture()
            capture = file
            camera.launch(uri)
        }) {
            Text(stringResource(R.string.take_photo))
        }
        if (draft.photos.isNotEmpty()) Text(stringResource(R.string.photo_count, draft.photos.size))
        Text(
            when {
                locating -> stringResource(R.string.location_searching)
                draft.location == null -> stringResource(R.string.location_none)
                else -> draft.location!!.let { stringResource(R.string.location_fix, it.lat, it.lon) }
            },
            style = MaterialTheme.typography.bodySmall,
        )
        error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(
            onClick = {
                scope.launch {
                    try {
                        val id = outpost.report(draft, grid, fallbackTitle)
                        platform.sync.request(expedited = SyncPolicy.expedite(draft.urgency))
                        onSaved(id)
                    } catch (e: OutpostException) {
                        error = e.message
                    }
                }
            },
            modifier = Modifier.fillMaxWidth(),
        ) {
            Text(stringResource(R.string.report_submit))
        }
    }
}
