package app.outpost.screens

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.PaddingValues
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
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.outpost.CaseRow
import app.outpost.ffi.Action
import app.outpost.ffi.HomeList
import app.outpost.key
import kotlinx.coroutines.flow.Flow

/**
 * A list of cases: "my reports" (newest first), the lead's queue, a responder's unit's cases
 * (most urgent, then oldest). Rows carry their quick actions (accept, dispatch).
 */
@Composable
fun CaseListScreen(rows: List<CaseRow>?, emptyKey: String, onOpenCase: (String) -> Unit, onAction: (CaseRow, Action) -> Unit) {
    when {
        rows == null -> Unit
        rows.isEmpty() -> Text(t(emptyKey), modifier = Modifier.padding(24.dp))
        else -> LazyColumn(
            modifier = Modifier.fillMaxSize(),
            contentPadding = PaddingValues(vertical = 8.dp),
            verticalArrangement = Arrangement.spacedBy(8.dp),
        ) {
            items(rows, key = { it.summary.id }) { row -> CaseRowCard(row, onOpenCase) { onAction(row, it) } }
        }
    }
}

@Composable
private fun CaseRowCard(row: CaseRow, onOpenCase: (String) -> Unit, onAction: (Action) -> Unit) {
    val dates = LocalDates.current
    Card(modifier = Modifier.fillMaxWidth().padding(horizontal = 12.dp).clickable { onOpenCase(row.summary.id) }) {
        Column(modifier = Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(4.dp)) {
            Row(verticalAlignment = Alignment.CenterVertically) {
                if (row.lifeSafety) Marker(t(row.urgencyKey), Alarm)
                if (row.overdue) Marker(t("badge_overdue"), Alarm)
                if (row.conflict) Marker(t("badge_conflict"))
                Text(t(row.statusKey), style = MaterialTheme.typography.labelLarge)
            }
            Text(row.summary.title, style = MaterialTheme.typography.titleMedium)
            Text(
                listOfNotNull(t(row.categoryKey), row.summary.address, dates.ago(row.summary.createdAt)).joinToString(" · "),
                style = MaterialTheme.typography.bodySmall,
            )
            if (row.quickActions.isNotEmpty()) {
                Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                    row.quickActions.forEachIndexed { i, action ->
                        if (i == 0) {
                            Button(onClick = { onAction(action) }) { Text(t(action.key)) }
                        } else {
                            OutlinedButton(onClick = { onAction(action) }) { Text(t(action.key)) }
                        }
                    }
                }
            }
        }
    }
}

@Composable
private fun CaseListRoute(session: Session, rows: Flow<List<CaseRow>>, emptyKey: String, nav: Navigator) {
    val shown by remember(rows) { rows }.collectAsState(null)
    var form by remember { mutableStateOf<Pair<CaseRow, Action>?>(null) }
    CaseListScreen(shown, emptyKey, onOpenCase = { nav.open(Route.Case(it)) }, onAction = { row, action -> form = row to action })
    form?.let { (row, action) ->
        ActionRoute(session, row.summary.id, action, row.summary.urgency) { form = null }
    }
}

/** "My reports": what this member flagged or reported. */
@Composable
fun MyReportsRoute(session: Session, nav: Navigator) {
    val rows = remember(session) { session.myReports() }
    CaseListRoute(session, rows, "my_reports_empty", nav)
}

/** One of core's case queues: the open cases, the overdue ones, a responder unit's cases. */
@Composable
fun QueueRoute(session: Session, list: HomeList, nav: Navigator) {
    val rows = remember(session, list) { session.cases(list) }
    CaseListRoute(session, rows, "queue_empty", nav)
}
