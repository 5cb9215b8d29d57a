package app.outpost.screens

import androidx.compose.foundation.layout.padding
import androidx.compose.material3.AssistChip
import androidx.compose.material3.AssistChipDefaults
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.semantics.LiveRegionMode
import androidx.compose.ui.semantics.liveRegion
import androidx.compose.ui.semantics.semantics
import androidx.compose.ui.unit.dp

/** The alarm colour: life-safety, overdue, hazards. */
val Alarm = Color(0xFFC62828)

/** A small coloured marker: life-safety, overdue, conflict. */
@Composable
fun Marker(text: String, color: Color = MaterialTheme.colorScheme.secondary) {
    AssistChip(
        onClick = {},
        label = { Text(text) },
        modifier = Modifier.padding(end = 4.dp),
        colors = AssistChipDefaults.assistChipColors(labelColor = color),
    )
}

/** Core's message when it refused something, announced to screen readers. */
@Composable
fun ErrorText(message: String?) {
    if (message == null) return
    Text(
        message,
        color = MaterialTheme.colorScheme.error,
        modifier = Modifier.semantics { liveRegion = LiveRegionMode.Polite },
    )
}
