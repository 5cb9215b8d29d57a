package app.outpost

import app.outpost.ffi.Datum
import app.outpost.ffi.Location
import app.outpost.ffi.Member
import app.outpost.ffi.Role
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.withTimeout
import java.io.File
import java.nio.file.Path

/** Grid ids and people from the seed stories (Yinhang street, Yangpu). */
object Seed {
    const val GRID = "g-yinhang-1"
    const val OTHER_GRID = "g-wujiaochang-3"

    val rider = Member(id = "rider-7", name = "王师傅", role = Role.COURIER, grids = listOf(GRID), unitId = null)
    val gridMember = Member(id = "gm-li", name = "李网格员", role = Role.GRID_MEMBER, grids = listOf(GRID), unitId = null)
    val gridLead = Member(id = "lead-zhang", name = "张站长", role = Role.GRID_LEAD, grids = listOf(GRID), unitId = null)

    val lane650 = Location(lat = 31.3181, lon = 121.5125, accuracyM = 8.0, datum = Datum.WGS84, address = "殷行路650弄")

    /** A photo reference: SHA-256 hex of some bytes (a photo no device holds). */
    fun photo(seed: String): String = sha256(seed.toByteArray())

    private val photoDir: File by lazy {
        java.nio.file.Files.createTempDirectory("outpost-photos").toFile().also { it.deleteOnExit() }
    }

    /**
     * A camera's file: a real JPEG (ImageIO) of [width]×[height] pixels of noise seeded by
     * [name], so each name is a different photo. Noise compresses badly: 1024×768 is ~0.7 MB.
     */
    fun photoFile(name: String, width: Int = 96, height: Int = 64): String {
        val f = File(photoDir, name.replace(Regex("[^A-Za-z0-9_.-]"), "_") + "-${width}x$height.jpg")
        if (!f.exists()) {
            val img = java.awt.image.BufferedImage(width, height, java.awt.image.BufferedImage.TYPE_INT_RGB)
            val rnd = java.util.Random(name.hashCode().toLong())
            for (y in 0 until height) for (x in 0 until width) img.setRGB(x, y, rnd.nextInt(0x1000000))
            check(javax.imageio.ImageIO.write(img, "jpg", f)) { "no JPEG writer" }
            f.deleteOnExit()
        }
        return f.path
    }

    /** The hash core names a photo file by. */
    fun hashOf(path: String): String = sha256(File(path).readBytes())

    private fun sha256(bytes: ByteArray): String =
        java.security.MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
}

fun dbIn(dir: Path, name: String = "outpost.db"): String = File(dir.toFile(), name).path

/** Waits (bounded) for the first value of a flow that satisfies [predicate]. */
suspend fun <T> Flow<T>.awaitFirst(timeoutMs: Long = 10_000, predicate: (T) -> Boolean): T =
    withTimeout(timeoutMs) { first(predicate) }

/** Open file descriptors of this process (Linux). */
fun openFds(): Int = File("/proc/self/fd").list()?.size ?: error("no /proc/self/fd")

/** Resident memory after a few collections, in KiB (Linux). */
fun settledRssKiB(): Long {
    repeat(3) { System.gc(); Thread.sleep(20) }
    return rssKiB()
}

/** Resident memory of this process in KiB (Linux). */
fun rssKiB(): Long =
    File("/proc/self/status").readLines()
        .first { it.startsWith("VmRSS:") }
        .split(Regex("\\s+"))[1]
        .toLong()

/** A passing answer to any item, with the photo (file) it needs. */
fun passing(item: app.outpost.ffi.ChecklistItem): Pair<app.outpost.ffi.AnswerValue, List<String>> {
    val photo = listOf(Seed.photoFile(item.id))
    return when (item.answer) {
        app.outpost.ffi.AnswerKind.PASS_FAIL -> app.outpost.ffi.AnswerValue.Pass to (if (item.photoRequired) photo else emptyList())
        app.outpost.ffi.AnswerKind.YES_NO ->
            (if (item.failsWhen == true) app.outpost.ffi.AnswerValue.No else app.outpost.ffi.AnswerValue.Yes) to
                (if (item.photoRequired) photo else emptyList())
        app.outpost.ffi.AnswerKind.NUMBER -> app.outpost.ffi.AnswerValue.Number((item.failBelow ?: 0.0) + 1.0) to emptyList()
        app.outpost.ffi.AnswerKind.TEXT -> app.outpost.ffi.AnswerValue.Text("正常") to emptyList()
        app.outpost.ffi.AnswerKind.PHOTO -> app.outpost.ffi.AnswerValue.Photo to photo
    }
}
