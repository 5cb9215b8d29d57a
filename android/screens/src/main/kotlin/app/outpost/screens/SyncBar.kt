package app.outpost.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import app.outpost.SyncBadge
import app.outpost.SyncIndicator

/** The sync indicator in the top bar: its state and the changes waiting; a tap opens [SyncScreen]. */
@Composable
fun SyncBar(badge: SyncBadge?, onOpen: () -> Unit) {
    val b = badge ?: return
    TextButton(onClick = onOpen) {
        Text(t(b.state.key) + if (b.pending > 0) " · ${b.pending}" else "", color = b.color())
    }
}

@Composable
private fun SyncBadge.color() = when {
    urgent -> Alarm
    state == SyncIndicator.FAILED -> MaterialTheme.colorScheme.error
    else -> MaterialTheme.colorScheme.onSurfaceVariant
}

/** Where this phone stands with the server: the state, what waits, the last success, core's last error. */
@Composable
fun SyncScreen(badge: SyncBadge?, onSyncNow: (expedited: Boolean) -> Unit) {
    val b = badge ?: return
    val dates = LocalDates.current
    Column(modifier = Modifier.padding(24.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text(t(b.state.key), style = MaterialTheme.typography.headlineSmall, color = b.color())
        Text(t("pending_changes", b.pending))
        if (b.urgent) Text(t("urgent_waiting"), color = Alarm)
        Text(b.lastSuccessAt?.let { t("last_synced", dates.dateTime(it)) } ?: t("never_synced"))
        b.error?.let { ErrorText(t("last_error", it)) }
        if (b.state != SyncIndicator.NOT_ENROLLED) {
            Button(onClick = { onSyncNow(b.urgent) }, modifier = Modifier.fillMaxWidth()) { Text(t("send_now")) }
        }
    }
}

@Composable
fun SyncBarRoute(session: Session, onOpen: () -> Unit) {
    val badge by remember(session) { session.syncBadges() }.collectAsState(null)
    SyncBar(badge, onOpen)
}

@Composable
fun SyncRoute(session: Session) {
    val badge by remember(session) { session.syncBadges() }.collectAsState(null)
    SyncScreen(badge) { session.platform.requestSync(it) }
}
