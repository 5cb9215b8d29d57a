package app.outpost.screens

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
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.outpost.Acknowledgement
import app.outpost.CaseDetail
import app.outpost.TimelineRow
import app.outpost.ffi.Action
import app.outpost.key

/** One case: status and badges, the reporter's acknowledgement, the facts, the buttons, the timeline. */
@OptIn(ExperimentalLayoutApi::class)
@Composable
fun CaseDetailScreen(d: CaseDetail, onAction: (Action) -> Unit) {
    val dates = LocalDates.current
    LazyColumn(modifier = Modifier.padding(16.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
        item {
            FlowRow(verticalArrangement = Arrangement.Center) {
                if (d.lifeSafety) Marker(t(d.urgencyKey), Alarm)
                if (d.overdue) Marker(t("badge_overdue"), Alarm)
                if (d.conflicts > 0) Marker(t("badge_conflicts", d.conflicts))
                Text(t(d.statusKey), style = MaterialTheme.typography.titleMedium, modifier = Modifier.align(Alignment.CenterVertically))
            }
        }
        d.acknowledgement?.let { ack -> item { AcknowledgementBanner(ack) } }
        item {
            Column(verticalArrangement = Arrangement.spacedBy(4.dp)) {
                Text(d.case.title, style = MaterialTheme.typography.headlineSmall)
                Text(t(d.categoryKey), style = MaterialTheme.typography.bodySmall)
                if (d.case.description.isNotBlank()) Text(d.case.description)
                d.case.location?.address?.let { Text(it, style = MaterialTheme.typography.bodySmall) }
                d.case.assignedUnit?.let { Text(t("assigned_unit", it)) }
                d.case.deadline?.let { Text(t("deadline", dates.dateTime(it))) }
                if (d.case.attachments.isNotEmpty()) Text(t("photo_count", d.case.attachments.size))
            }
        }
        if (d.actions.isNotEmpty()) {
            item {
                FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    d.actions.forEach { a -> OutlinedButton(onClick = { onAction(a) }) { Text(t(a.key)) } }
                }
            }
        }
        item {
            Column {
                HorizontalDivider()
                Text(t("timeline"), style = MaterialTheme.typography.titleSmall, modifier = Modifier.padding(top = 8.dp))
            }
        }
        items(d.timeline, key = { it.entry.id }) { TimelineItem(it) }
    }
}

@Composable
private fun AcknowledgementBanner(ack: Acknowledgement) {
    val color = when (ack) {
        Acknowledgement.WAITING -> MaterialTheme.colorScheme.surfaceVariant
        Acknowledgement.COMING -> MaterialTheme.colorScheme.primaryContainer
        Acknowledgement.HANDLED, Acknowledgement.WITHDRAWN -> MaterialTheme.colorScheme.secondaryContainer
    }
    Card(colors = CardDefaults.cardColors(containerColor = color), modifier = Modifier.fillMaxWidth()) {
        Text(t(ack.key), style = MaterialTheme.typography.titleMedium, modifier = Modifier.padding(16.dp))
    }
}

@Composable
private fun TimelineItem(row: TimelineRow) {
    val dates = LocalDates.current
    Column(modifier = Modifier.padding(vertical = 4.dp)) {
        Row(verticalAlignment = Alignment.CenterVertically) {
            Text(t(row.key), style = MaterialTheme.typography.labelLarge)
            Text(
                " · " + (if (row.mine) t("by_me") else row.entry.author) + " · " + dates.dateTime(row.entry.at),
                style = MaterialTheme.typography.bodySmall,
            )
        }
        row.text?.let { Text(it) }
        row.deadline?.let { Text(t("deadline", dates.dateTime(it)), style = MaterialTheme.typography.bodySmall) }
        row.satisfaction?.let { Text(t("satisfaction", it)) }
        row.conflict?.let {
            Text(t("conflict_marker", it), color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodySmall)
        }
    }
}

@Composable
fun CaseDetailRoute(session: Session, caseId: String) {
    val detail by remember(session, caseId) { session.caseDetail(caseId) }.collectAsState(null)
    var form by remember { mutableStateOf<Action?>(null) }
    val d = detail ?: return
    CaseDetailScreen(d) { form = it }
    form?.let { ActionRoute(session, caseId, it, d.case.urgency) { form = null } }
}
