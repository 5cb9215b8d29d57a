package app.outpost.android.platform

import android.content.Context
import android.net.Uri
import androidx.core.content.FileProvider
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import java.io.File
import java.security.MessageDigest
import java.util.UUID

/**
 * Camera glue: a file the camera app writes to (ActivityResultContracts.TakePicture), then
 * the photo's SHA-256, which is how cases and answers refer to it.
 */
class Photos(private val context: Context) {
    private val captures = File(context.cacheDir, "camera")
    private val kept = File(context.filesDir, "photos")

    /** A new capture target and the content URI to hand to the camera app. */
    fun newCapture(): Pair<File, Uri> {
        captures.mkdirs()
        val file = File(captures, "${UUID.randomUUID()}.jpg")
        return file to FileProvider.getUriForFile(context, "${context.packageName}.photos", file)
    }

    /** Keeps a captured photo under its hash and returns the hash; null if the camera wrote nothing. */
    suspend fun keep(capture: File): String? = withContext(Dispatchers.IO) {
        if (!capture.isFile || capture.length() == 0L) return@withContext null
        val digest = MessageDigest.getInstance("SHA-256")
        capture.inputStream().use { input ->
            val buf = ByteArray(64 * 1024)
            while (true) {
                val n = input.read(buf)
                if (n < 0) break
                digest.update(buf, 0, n)
            }
        }
        val hash = digest.digest().joinToString("") { "%02x".format(it) }
        kept.mkdirs()
        val target = File(kept, hash)
        if (!target.exists() && !capture.renameTo(target)) capture.copyTo(target, overwrite = true)
        capture.delete()
        hash
    }

    fun file(hash: String): File = File(kept, hash)
}
