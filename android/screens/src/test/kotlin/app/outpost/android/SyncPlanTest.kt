package app.outpost.android

import app.outpost.Outpost
import app.outpost.android.sync.SyncOutcome
import app.outpost.android.sync.SyncRequestPlan
import app.outpost.ffi.OutpostException
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertThrows
import org.junit.Assert.assertTrue
import org.junit.Test
import java.nio.file.Files

/**
 * The Android sync worker's decisions (android/app sync/SyncPlan.kt), on the JVM against the
 * real library: what WorkManager is told after a sync, and which unique work a request makes.
 */
class SyncPlanTest {
    @Test
    fun `a phone that was never enrolled gives up instead of retrying forever`() = runBlocking {
        val dir = Files.createTempDirectory("sync-plan").toFile()
        try {
            Outpost.open(dir.resolve("outpost.db").path).use { outpost ->
                val refusal = runCatching { outpost.syncNow() }.exceptionOrNull()
                assertTrue("$refusal", refusal is OutpostException.NotEnrolled)
                assertEquals(SyncOutcome.GIVE_UP, SyncOutcome.of { outpost.syncNow() })
            }
        } finally {
            dir.deleteRecursively()
        }
    }

    @Test
    fun `a server that cannot be reached, or is busy, is retried later`() = runBlocking {
        val dir = Files.createTempDirectory("sync-plan").toFile()
        try {
            Outpost.open(dir.resolve("outpost.db").path).use { outpost ->
                // Nothing listens on port 9 of loopback: the bindings' own Network error.
                val unreachable = runCatching { outpost.enroll("http://127.0.0.1:9", "code", "test") }.exceptionOrNull()
                assertTrue("$unreachable", unreachable is OutpostException.Network)
                assertEquals(SyncOutcome.RETRY, SyncOutcome.of { throw unreachable!! })
            }
        } finally {
            dir.deleteRecursively()
        }
        assertEquals(SyncOutcome.RETRY, SyncOutcome.of { throw OutpostException.Server("503 busy") })
        assertEquals(SyncOutcome.GIVE_UP, SyncOutcome.of { throw OutpostException.Unauthorized("token revoked") })
        assertEquals(SyncOutcome.DONE, SyncOutcome.of { })
    }

    @Test
    fun `a bug in the sync path is not swallowed as a sync outcome`() {
        assertThrows(IllegalStateException::class.java) { runBlocking { SyncOutcome.of { error("bug") } } }
    }

    @Test
    fun `an urgent request replaces what waits, an ordinary one keeps it`() {
        val urgent = SyncRequestPlan.of(expedited = true)
        val soon = SyncRequestPlan.of(expedited = false)
        assertTrue(urgent.expedited && urgent.replaceExisting)
        assertFalse(soon.expedited || soon.replaceExisting)
        assertEquals(setOf(SyncRequestPlan.SOON, SyncRequestPlan.URGENT, SyncRequestPlan.PERIODIC), setOf(urgent.uniqueName, soon.uniqueName, SyncRequestPlan.PERIODIC))
    }
}
