package app.outpost.android.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.outpost.CaseAction
import app.outpost.CaseRow
import app.outpost.android.R
import app.outpost.myReportsScreen
import app.outpost.queueScreen

/** "My reports": what this member flagged or reported, newest first. */
@Composable
fun MyReportsScreen(onOpenCase: (String) -> Unit) {
    val outpost = LocalOutpost.current
    val rows by remember(outpost) { outpost.myReportsScreen() }.collectAsStateWithLifecycle(null)
    CaseList(rows, stringResource(R.string.my_reports_empty), onOpenCase)
}

/** The lead's queue (a responder's: its unit's cases), most urgent first, then oldest. */
@Composable
fun QueueScreen(onOpenCase: (String) -> Unit) {
    val outpost = LocalOutpost.current
    val rows by remember(outpost) { outpost.queueScreen() }.collectAsStateWithLifecycle(null)
    CaseList(rows, stringResource(R.string.queue_empty), onOpenCase)
}

@Composable
private fun CaseList(rows: List<CaseRow>?, empty: String, onOpenCase: (String) -> Unit) {
    when {
        rows == null -> Unit
        rows.isEmpty() -> Text(empty, modifier = Modifier.padding(24.dp))
        else -> LazyColumn(
            modifier = Modifier.fillMaxSize(),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            items(rows, key = { it.summary.id }) { CaseRowCard(it, onOpenCase) }
        }
    }
}

@Composable
private fun CaseRowCard(row: CaseRow, onOpenCase: (String) -> Unit) {
    var form by remember { mutableStateOf<CaseAction?>(null) }
    Card(modifier = Modifier.fillMaxWidth().padding(horizontal = 12.dp).clickable { onOpenCase(row.summary.id) }) {
        Column(modifier = Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                if (row.lifeSafety) Marker(label(row.urgencyKey), Alarm)
                if (row.overdue) Marker(stringResource(R.string.badge_overdue), Alarm)
                if (row.conflict) Marker(stringResource(R.string.badge_conflict))
                Text(label(row.statusKey), style = MaterialTheme.typography.labelLarge)
            }
            Text(row.summary.title, style = MaterialTheme.typography.titleMedium)
            Text(
                listOfNotNull(label(row.categoryKey), row.summary.address, ago(row.summary.createdAt)).joinToString(" · "),
                style = MaterialTheme.typography.bodySmall,
            )
            if (row.quickActions.isNotEmpty()) {
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    row.quickActions.forEachIndexed { i, action ->
                        if (i == 0) {
                            Button(onClick = { form = action }) { Text(label(action.key)) }
                        } else {
                            OutlinedButton(onClick = { form = action }) { Text(label(action.key)) }
                        }
                    }
                }
            }
        }
    }
    form?.let { ActionDialog(caseId = row.summary.id, action = it, urgency = row.summary.urgency, onDone = { form = null }) }
}
