package app.outpost.android.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Card
import androidx.compose.material3.CardDefaults
import androidx.compose.material3.HorizontalDivider
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
import app.outpost.Acknowledgement
import app.outpost.CaseAction
import app.outpost.CaseDetail
import app.outpost.TimelineRow
import app.outpost.android.R
import app.outpost.caseScreen

/** One case: status, the reporter's acknowledgement, the timeline with conflicts, the buttons. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun CaseDetailScreen(caseId: String) {
    val outpost = LocalOutpost.current
    val detail by remember(outpost, caseId) { outpost.caseScreen(caseId) }.collectAsStateWithLifecycle(null)
    var form by remember { mutableStateOf<CaseAction?>(null) }
    val d: CaseDetail = detail ?: return

    LazyColumn(modifier = Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item {
            Row(verticalAlignment = Alignment.CenterVertically) {
                if (d.lifeSafety) Marker(label(d.urgencyKey), Alarm)
                if (d.overdue) Marker(stringResource(R.string.badge_overdue), Alarm)
                if (d.conflicts > 0) Marker(stringResource(R.string.badge_conflicts, d.conflicts))
                Text(label(d.statusKey), style = MaterialTheme.typography.titleMedium)
            }
        }
        d.acknowledgement?.let { ack -> item { AcknowledgementBanner(ack) } }
        item {
            Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text(d.case.title, style = MaterialTheme.typography.headlineSmall)
                Text(label(d.categoryKey), style = MaterialTheme.typography.bodySmall)
                if (d.case.description.isNotBlank()) Text(d.case.description)
                d.case.location?.address?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
                d.case.assignedUnit?.let { Text(stringResource(R.string.assigned_unit, it)) }
                d.case.deadline?.let { Text(stringResource(R.string.deadline, dateTime(it))) }
                if (d.case.attachments.isNotEmpty()) Text(stringResource(R.string.photo_count, d.case.attachments.size))
            }
        }
        if (d.actions.isNotEmpty()) {
            item {
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    d.actions.forEach { a -> OutlinedButton(onClick = { form = a }) { Text(label(a.key)) } }
                }
            }
        }
        item {
            Column {
                HorizontalDivider()
                Text(stringResource(R.string.timeline), style = MaterialTheme.typography.titleSmall)
            }
        }
        items(d.timeline, key = { it.entry.id }) { TimelineItem(it) }
    }
    form?.let { ActionDialog(caseId = caseId, action = it, urgency = d.case.urgency, onDone = { form = null }) }
}

@Composable
private fun AcknowledgementBanner(ack: Acknowledgement) {
    val color = when (ack) {
        Acknowledgement.WAITING -> MaterialTheme.colorScheme.surfaceVariant
        Acknowledgement.COMING -> MaterialTheme.colorScheme.primaryContainer
        Acknowledgement.HANDLED, Acknowledgement.WITHDRAWN -> MaterialTheme.colorScheme.secondaryContainer
    }
    Card(colors = CardDefaults.cardColors(containerColor = color), modifier = Modifier.fillMaxWidth()) {
        Text(label(ack.key), style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(16.dp))
    }
}

@Composable
private fun TimelineItem(row: TimelineRow) {
    Column(modifier = Modifier.padding(vertical = 4.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(label(row.key), style = MaterialTheme.typography.labelLarge)
            Text(
                " · " + (if (row.mine) stringResource(R.string.by_me) else row.entry.author) + " · " + dateTime(row.entry.at),
                style = MaterialTheme.typography.bodySmall,
            )
        }
        row.text?.let { Text(it) }
        row.deadline?.let { Text(stringResource(R.string.deadline, dateTime(it)), style = MaterialTheme.typography.bodySmall) }
        row.satisfaction?.let { Text(stringResource(R.string.satisfaction, it)) }
        row.conflict?.let {
            Text(stringResource(R.string.conflict_marker, it), color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall)
        }
    }
}
