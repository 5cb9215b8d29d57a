package app.outpost.android.ui

import android.annotation.SuppressLint
import android.text.format.DateUtils
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.AssistChip
import androidx.compose.material3.AssistChipDefaults
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.remember
import androidx.compose.runtime.staticCompositionLocalOf
import androidx.compose.ui.Modifier
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import app.outpost.Outpost
import app.outpost.android.Platform

val LocalOutpost = staticCompositionLocalOf<Outpost> { error("no Outpost provided") }
val LocalPlatform = staticCompositionLocalOf<Platform> { error("no Platform provided") }

/**
 * The text for a facade label key (status_*, category_*, action_*, ...): the string resource
 * of that name. LabelKeysTest and scripts/suites/shells.sh check every key exists in both
 * languages; res/raw/keep.xml keeps them through resource shrinking.
 */
@SuppressLint("DiscouragedApi")
@Composable
fun label(key: String): String {
    val context = LocalContext.current
    val id = remember(key) { context.resources.getIdentifier(key, "string", context.packageName) }
    return if (id != 0) stringResource(id) else key
}

/** "5 minutes ago", in the phone's language. */
fun ago(at: Long, now: Long = System.currentTimeMillis()): String =
    DateUtils.getRelativeTimeSpanString(at, now, DateUtils.MINUTE_IN_MILLIS).toString()

@Composable
fun dateTime(at: Long): String {
    val context = LocalContext.current
    return DateUtils.formatDateTime(context, at, DateUtils.FORMAT_SHOW_DATE or DateUtils.FORMAT_SHOW_TIME)
}

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
