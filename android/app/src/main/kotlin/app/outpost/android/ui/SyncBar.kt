package app.outpost.android.ui

import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import app.outpost.SyncIndicator

/** The sync indicator in the top bar; a tap asks for a sync now. */
@Composable
fun SyncBar() {
    val platform = LocalPlatform.current
    val badge by remember(platform) { platform.sync.badges() }.collectAsStateWithLifecycle(null)
    val b = badge ?: return
    val color = when {
        b.urgent -> Alarm
        b.state == SyncIndicator.FAILED -> MaterialTheme.colorScheme.error
        else -> MaterialTheme.colorScheme.onSurfaceVariant
    }
    TextButton(onClick = { platform.sync.request(expedited = b.urgent) }) {
        Text(label(b.state.key) + if (b.pending > 0) " · ${b.pending}" else "", color = color)
    }
}
