package app.outpost

import app.outpost.ffi.AnswerKind
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.Category
import app.outpost.ffi.EventKind
import app.outpost.ffi.NewCase
import app.outpost.ffi.OutpostException
import app.outpost.ffi.PhotoEvent
import app.outpost.ffi.PhotoState
import app.outpost.ffi.Site
import app.outpost.ffi.SyncOptions
import app.outpost.ffi.TokenStore
import app.outpost.ffi.Urgency
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertArrayEquals
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.io.File
import java.nio.file.Path

/**
 * Photos through the bindings against a real `outpost-server` (scripts/suites/kotlin.sh):
 * a grid member's phone attaches camera files to a flag and to a checklist answer and syncs
 * through a relay that cuts the connection in the middle of the upload; the upload resumes
 * from where the server stands. Another phone fetches both and gets the same bytes. The
 * first phone's token lives in the app's token store, never in its database.
 */
class PhotoStoryTest {
    @TempDir
    lateinit var dir: Path

    /** What the app's Keystore vault does, in memory. */
    private class Vault : TokenStore {
        @Volatile
        var token: String? = null

        override fun load(): String? = token

        override fun save(token: String?) {
            this.token = token
        }
    }

    private fun ByteArray.contains(needle: ByteArray): Boolean =
        (0..size - needle.size).any { i -> needle.indices.all { this[i + it] == needle[it] } }

    /** Every file of the database (main, WAL, shared memory) holds no trace of [secret]. */
    private fun assertNotInDatabase(db: String, secret: String) {
        for (suffix in listOf("", "-wal", "-shm")) {
            val f = File(db + suffix)
            if (f.exists()) assertFalse(f.readBytes().contains(secret.toByteArray()), "the token is in ${f.name}")
        }
    }

    private suspend fun <T> Channel<T>.drain(): List<T> {
        delay(100)
        val out = mutableListOf<T>()
        while (true) out += tryReceive().getOrNull() ?: return out
    }

    @Test
    fun `photos taken on one phone reach another through a cut upload, byte for byte`() = runBlocking {
        // Camera files: noise compresses badly, so each is several upload chunks (64 KiB).
        val lanePhoto = Seed.photoFile("fire-lane-blocked", 1024, 768)
        val stairPhoto = Seed.photoFile("stairwell", 800, 600)
        val laneHash = Seed.hashOf(lanePhoto)
        val stairHash = Seed.hashOf(stairPhoto)
        val sizes = File(lanePhoto).length() + File(stairPhoto).length()
        assertTrue(File(lanePhoto).length() > 300_000, "${File(lanePhoto).length()}")
        val options = SyncOptions(timeoutMs = 20_000, connectTimeoutMs = 2_000, retries = 3)

        val aDb = dbIn(dir, "a.db")
        val vault = Vault()
        val flagId: String
        val inspectionId: String
        // The cut falls inside the first photo: enrollment and the documents are a few KiB.
        CuttingRelay(TestServer.url, cutAt = 200_000).use { relay ->
            Outpost.open(aDb, tokens = vault).use { a ->
                a.syncOptions = options
                a.enroll(relay.url, TestServer.photographerCode, "钱网格员的手机")
                val token = vault.token
                assertTrue(token != null && token.length >= 16, "the vault holds the token")
                assertTrue(a.syncState().enrolled)
                assertNotInDatabase(aDb, token!!)

                // A blocked fire lane: flagged with the photo, and photographed on the walk.
                flagId = a.flagPersonInDistress(TestServer.photoGrid, Seed.lane650, note = "消防通道被电动车堵死", photo = lanePhoto)
                assertEquals(listOf(laneHash), a.case(flagId).attachments)
                inspectionId = a.startInspection("residential-fire-safety", Site(name = "12号楼", gridId = TestServer.photoGrid))
                val item = a.inspection(inspectionId).template.sections.flatMap { it.items }.first { it.answer == AnswerKind.PHOTO }
                assertEquals(listOf(stairHash), a.answer(inspectionId, item.id, AnswerValue.Photo, photos = listOf(stairPhoto)))
                // Waiting, the life-safety flag's photo first.
                assertEquals(listOf(laneHash, stairHash), a.waitingPhotos().map { it.hash })
                assertEquals(sizes, a.photoUsage().waitingBytes)

                val events = Channel<PhotoEvent>(Channel.UNLIMITED)
                val job = launch(Dispatchers.Default) { a.photoEvents.collect { events.send(it) } }
                withTimeout(10_000) { while (a.photoListenerCount != 1) delay(5) }

                val report = a.syncNow()
                assertEquals(1, relay.cuts.get(), "the relay cut the upload")
                assertEquals(2L, report.pushedDocs)
                assertEquals(2L, report.photosUploaded, "$report")
                assertTrue(report.photosFailed.isEmpty(), "${report.photosFailed}")
                assertTrue(report.photoBytesSent > sizes, "the cut chunk went again: ${report.photoBytesSent} of $sizes")
                assertTrue(report.photoBytesSent < sizes + 3 * 65_536, "only the cut chunk went again: ${report.photoBytesSent} of $sizes")
                val uploading = events.drain().filterIsInstance<PhotoEvent.Uploading>()
                assertTrue(uploading.size >= 10, "$uploading")
                assertEquals(report.photoBytesSent, uploading.last().bytesSent)
                assertEquals(0L, uploading.last().waiting)
                assertEquals(emptyList<Any>(), a.waitingPhotos())
                assertEquals(PhotoState.UPLOADED, a.photoInfo(laneHash)!!.state)
                job.cancel()
                assertNotInDatabase(aDb, token)
            }
        }

        Outpost.open(dbIn(dir, "b.db")).use { b ->
            b.syncOptions = options
            b.enroll(TestServer.url, TestServer.viewerCode, "周网格员的手机")
            b.syncNow()
            val case = b.case(flagId)
            assertEquals(listOf(laneHash), case.attachments)
            assertTrue(case.timeline.any { it.kind == EventKind.PhotoAdded(laneHash) })
            val answer = b.inspection(inspectionId).answers.flatMap { it.answers }.single { it.photos.isNotEmpty() }
            assertEquals(listOf(stairHash), answer.photos)

            // Not on this phone yet: it cannot be named in a report, and must be fetched.
            assertNull(b.photoPath(laneHash))
            val reuse = NewCase(Category.FIRE_HAZARD, Urgency.URGENT, "同一处通道", TestServer.photoGrid, "", null, listOf(laneHash))
            val refused = runCatching { b.report(reuse) }.exceptionOrNull()
            assertTrue(refused is OutpostException.PhotoNotOnDevice, "$refused")

            val events = Channel<PhotoEvent>(Channel.UNLIMITED)
            val job = launch(Dispatchers.Default) { b.photoEvents.collect { events.send(it) } }
            withTimeout(10_000) { while (b.photoListenerCount != 1) delay(5) }
            val lane = b.fetchPhoto(laneHash)
            val stair = b.fetchPhoto(stairHash)
            assertArrayEquals(File(lanePhoto).readBytes(), File(lane).readBytes())
            assertArrayEquals(File(stairPhoto).readBytes(), File(stair).readBytes())
            assertEquals(lane, b.photoPath(laneHash))
            assertEquals(PhotoState.CACHED, b.photoInfo(stairHash)!!.state)

            val heard = events.drain()
            assertTrue(heard.contains(PhotoEvent.Fetched(laneHash, lane)), "$heard")
            assertTrue(heard.contains(PhotoEvent.Fetched(stairHash, stair)), "$heard")
            val laneProgress = heard.filterIsInstance<PhotoEvent.Fetching>().filter { it.hash == laneHash }
            assertEquals(File(lanePhoto).length(), laneProgress.last().bytesReceived)
            job.cancel()

            // Held now: the same photo may be named again.
            assertEquals(listOf(laneHash), b.case(b.report(reuse)).attachments)

            // A photo nobody referenced is not served, and the failure is heard.
            val unknown = Seed.photo("never-taken")
            val e = runCatching { b.fetchPhoto(unknown) }.exceptionOrNull()
            assertTrue(e is OutpostException.Rejected, "$e")
        }
    }
}
