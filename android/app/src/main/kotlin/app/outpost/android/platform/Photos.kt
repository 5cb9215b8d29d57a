package app.outpost.android.platform

import android.content.Context
import android.net.Uri
import androidx.core.content.FileProvider
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import java.io.File
import java.util.UUID

/**
 * Camera glue: a file the camera app writes to (ActivityResultContracts.TakePicture). Its
 * path goes to core with the action (a report, a photo on a case, a checklist answer); core
 * checks it, keeps its own copy under the photo's SHA-256 and uploads it. Nothing else here
 * keeps or hashes photos.
 */
class Photos(private val context: Context) {
    private val captures = File(context.cacheDir, "camera")

    /** A new capture target and the content URI to hand to the camera app. */
    fun newCapture(): Pair<File, Uri> {
        captures.mkdirs()
        // Captures core has long since copied (or that were never used) go.
        val dayAgo = System.currentTimeMillis() - 24 * 3_600_000L
        captures.listFiles()?.filter { it.lastModified() < dayAgo }?.forEach { it.delete() }
        val file = File(captures, "${UUID.randomUUID()}.jpg")
        return file to FileProvider.getUriForFile(context, "${context.packageName}.photos", file)
    }

    /** The path of a capture to hand to core; null if the camera wrote nothing. */
    suspend fun keep(capture: File): String? = withContext(Dispatchers.IO) {
        capture.path.takeIf { capture.isFile && capture.length() > 0L }
    }
}
