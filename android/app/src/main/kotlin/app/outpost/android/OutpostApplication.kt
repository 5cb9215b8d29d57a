package app.outpost.android

import android.app.Application
import app.outpost.Outpost
import app.outpost.android.platform.Locator
import app.outpost.android.platform.TokenVault
import app.outpost.android.sync.SyncController
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import java.io.File

/**
 * Opens the one [Outpost] of the process (off the main thread), the location provider and
 * background sync. The database lives in the app's private files; nothing else is stored
 * outside Rust except the Keystore-wrapped device token ([TokenVault], which core asks for
 * it) and camera files on their way into core.
 */
class OutpostApplication : Application() {
    val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    val outpost: Deferred<Outpost> by lazy {
        scope.async(Dispatchers.IO) { Outpost.open(File(filesDir, "outpost.db").path, tokens = TokenVault(this@OutpostApplication)) }
    }

    val locator: Locator by lazy { Locator(this) }

    val sync: SyncController by lazy { SyncController(this, outpost) }

    override fun onCreate() {
        super.onCreate()
        sync.start()
    }
}
