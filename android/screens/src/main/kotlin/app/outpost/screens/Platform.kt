package app.outpost.screens

import androidx.compose.runtime.Composable
import androidx.compose.runtime.ReadOnlyComposable
import androidx.compose.runtime.staticCompositionLocalOf
import app.outpost.ffi.Location
import kotlinx.coroutines.flow.Flow

/*
 * The small platform layer the screens are written against. The Android app supplies it from
 * its resources, activity-result launchers, fused location and WorkManager; the desktop host
 * of the screen stories supplies it from the same strings.xml files and test doubles for the
 * camera, location and the sync scheduler.
 */

/** What the screens need from the phone besides the facade. */
interface Platform {
    /** The last location fix if it is recent; instant, for the one-tap flag. Null without one. */
    suspend fun recentLocation(): Location?

    /** A fresh fix, or null after the platform's timeout (indoors, no permission, no provider). */
    suspend fun currentLocation(): Location?

    /** Asks for location permission once if it was never granted; whether it is granted now. */
    suspend fun askLocationPermission(): Boolean

    /** Opens the camera; the path of the photo it wrote, or null when the person cancelled. */
    suspend fun takePhoto(): String?

    /** Asks for a sync: now if there is network, else when it returns. */
    fun requestSync(expedited: Boolean)

    /** Whether the network is up, as it changes. */
    val online: Flow<Boolean>

    /** The name this device is enrolled under (shown to the grid lead). */
    val deviceName: String
}

/**
 * Text by key: the app's string resources (`values`, `values-zh-rCN`) on Android, the same
 * files parsed on the desktop. Facade labels (status_*, action_*, ...) are keys too.
 */
interface Texts {
    /** The text for [key] with `%1$s`-style [args]; the key itself when it does not exist. */
    fun get(key: String, vararg args: Any): String

    /** The language the text is in ("zh", "en"), for checklist templates that carry both. */
    val language: String
}

/** Dates and times in the person's language and time zone. */
interface Dates {
    fun dateTime(epochMs: Long): String

    /** "5 minutes ago". */
    fun ago(epochMs: Long): String
}

val LocalTexts = staticCompositionLocalOf<Texts> { error("no Texts provided") }
val LocalDates = staticCompositionLocalOf<Dates> { error("no Dates provided") }

/** The text for [key] in the current language. */
@Composable
@ReadOnlyComposable
fun t(key: String, vararg args: Any): String = LocalTexts.current.get(key, *args)
