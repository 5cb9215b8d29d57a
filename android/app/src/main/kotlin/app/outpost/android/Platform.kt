package app.outpost.android

import android.app.Application
import app.outpost.Outpost
import app.outpost.android.platform.Locator
import app.outpost.android.platform.Photos
import app.outpost.android.platform.TokenVault
import app.outpost.android.sync.SyncController
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import java.io.File

/** The platform glue the screens use: location, camera files, sync scheduling. */
class Platform(
    val locator: Locator,
    val photos: Photos,
    val sync: SyncController,
)

/**
 * Opens the one [Outpost] of the process (off the main thread) and the platform glue. The
 * database lives in the app's private files; nothing else is stored outside Rust except the
 * Keystore-wrapped device token ([TokenVault], which core asks for it) and camera files on
 * their way into core.
 */
class OutpostApplication : Application() {
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    val outpost: Deferred<Outpost> by lazy {
        scope.async(Dispatchers.IO) { Outpost.open(File(filesDir, "outpost.db").path, tokens = TokenVault(this@OutpostApplication)) }
    }

    val platform: Platform by lazy {
        Platform(Locator(this), Photos(this), SyncController(this, outpost))
    }

    override fun onCreate() {
        super.onCreate()
        platform.sync.start()
    }
}
