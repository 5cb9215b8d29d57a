package app.outpost.android.platform

import android.Manifest
import android.annotation.SuppressLint
import android.content.Context
import android.content.pm.PackageManager
import androidx.core.content.ContextCompat
import app.outpost.ffi.Datum
import app.outpost.ffi.Location
import com.google.android.gms.location.LocationServices
import com.google.android.gms.location.Priority
import com.google.android.gms.tasks.CancellationTokenSource
import kotlinx.coroutines.tasks.await
import kotlinx.coroutines.withTimeoutOrNull

/** The fused location provider, when the person allowed it. Never blocks a save. */
class Locator(private val context: Context) {
    private val client by lazy { LocationServices.getFusedLocationProviderClient(context) }

    fun allowed(): Boolean = listOf(Manifest.permission.ACCESS_FINE_LOCATION, Manifest.permission.ACCESS_COARSE_LOCATION)
        .any { ContextCompat.checkSelfPermission(context, it) == PackageManager.PERMISSION_GRANTED }

    /** The last fix if it is recent: instant, for the one-tap flag. */
    @SuppressLint("MissingPermission")
    suspend fun recent(maxAgeMs: Long = 2 * 60_000): Location? {
        if (!allowed()) return null
        val last = runCatching { client.lastLocation.await() }.getOrNull() ?: return null
        return last.takeIf { System.currentTimeMillis() - it.time <= maxAgeMs }?.toOutpost()
    }

    /** A fresh fix, or null after [timeoutMs] (indoors, no permission, no provider). */
    @SuppressLint("MissingPermission")
    suspend fun current(timeoutMs: Long = 20_000): Location? {
        if (!allowed()) return null
        val cancel = CancellationTokenSource()
        return withTimeoutOrNull(timeoutMs) {
            runCatching { client.getCurrentLocation(Priority.PRIORITY_HIGH_ACCURACY, cancel.token).await(cancel) }.getOrNull()
        }?.toOutpost().also { cancel.cancel() }
    }
}

/** Play services' fused provider reports WGS-84. Core checks the ranges. */
private fun android.location.Location.toOutpost() = Location(
    lat = latitude,
    lon = longitude,
    accuracyM = accuracy.toDouble().takeIf { hasAccuracy() && it > 0 },
    datum = Datum.WGS84,
    address = null,
)
