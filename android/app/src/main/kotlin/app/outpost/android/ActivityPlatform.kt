package app.outpost.android

import android.Manifest
import android.annotation.SuppressLint
import android.content.Context
import android.os.Build
import android.text.format.DateUtils
import androidx.activity.ComponentActivity
import androidx.activity.result.contract.ActivityResultContracts
import androidx.core.content.FileProvider
import app.outpost.android.platform.onlineFlow
import app.outpost.ffi.Location
import app.outpost.screens.Dates
import app.outpost.screens.Platform
import app.outpost.screens.Texts
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.flow.Flow
import java.io.File
import java.util.UUID
import java.util.concurrent.ConcurrentHashMap

/**
 * The shared screens' platform layer on Android: the fused location provider, the camera
 * app and the permission dialog through activity-result launchers (registered when the
 * activity is created, as they must be), WorkManager for sync, ConnectivityManager for the
 * network.
 */
class ActivityPlatform(private val activity: ComponentActivity, private val app: OutpostApplication) : Platform {
    private var photoResult: CompletableDeferred<Boolean>? = null
    private var permissionResult: CompletableDeferred<Boolean>? = null

    private val camera = activity.registerForActivityResult(ActivityResultContracts.TakePicture()) { ok ->
        photoResult?.complete(ok)
    }
    private val permissions = activity.registerForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) { grants ->
        permissionResult?.complete(grants.values.any { it })
    }

    override suspend fun recentLocation(): Location? = app.locator.recent()

    override suspend fun currentLocation(): Location? = app.locator.current()

    override suspend fun askLocationPermission(): Boolean {
        if (app.locator.allowed()) return true
        val result = CompletableDeferred<Boolean>()
        permissionResult?.cancel()
        permissionResult = result
        permissions.launch(arrayOf(Manifest.permission.ACCESS_FINE_LOCATION, Manifest.permission.ACCESS_COARSE_LOCATION))
        return result.await()
    }

    /**
     * The camera app writes into cache/camera/ through the FileProvider (res/xml/photo_paths.xml).
     * The file's path goes to core with the action (a report, a photo on a case, a checklist
     * answer); core checks it and keeps its own copy under the photo's SHA-256. Nothing here
     * keeps or hashes photos.
     */
    override suspend fun takePhoto(): String? {
        val dir = File(activity.cacheDir, "camera").apply { mkdirs() }
        // Captures core has long since copied (or that were never used) go.
        val dayAgo = System.currentTimeMillis() - 24 * 3_600_000L
        dir.listFiles()?.filter { it.lastModified() < dayAgo }?.forEach { it.delete() }
        val file = File(dir, "${UUID.randomUUID()}.jpg")
        val uri = FileProvider.getUriForFile(activity, "${activity.packageName}.photos", file)
        val result = CompletableDeferred<Boolean>()
        photoResult?.cancel()
        photoResult = result
        camera.launch(uri)
        val taken = result.await() && file.length() > 0
        if (!taken) file.delete()
        return file.path.takeIf { taken }
    }

    override fun requestSync(expedited: Boolean) = app.sync.request(expedited)

    override val online: Flow<Boolean> = app.onlineFlow()

    override val deviceName: String = "${Build.MANUFACTURER} ${Build.MODEL}"
}

/** The app's string resources by name: facade label keys and the screens' own keys. */
class ResourceTexts(private val context: Context) : Texts {
    private val ids = ConcurrentHashMap<String, Int>()

    override val language: String get() = context.resources.configuration.locales[0].language

    @SuppressLint("DiscouragedApi") // keys come from the facade; res/raw/keep.xml keeps them all
    override fun get(key: String, vararg args: Any): String {
        val id = ids.getOrPut(key) { context.resources.getIdentifier(key, "string", context.packageName) }
        return if (id == 0) key else context.getString(id, *args)
    }
}

/** Dates in the phone's language, format and time zone. */
class SystemDates(private val context: Context) : Dates {
    override fun dateTime(epochMs: Long): String =
        DateUtils.formatDateTime(context, epochMs, DateUtils.FORMAT_SHOW_DATE or DateUtils.FORMAT_SHOW_TIME)

    override fun ago(epochMs: Long): String =
        DateUtils.getRelativeTimeSpanString(epochMs, System.currentTimeMillis(), DateUtils.MINUTE_IN_MILLIS).toString()
}
