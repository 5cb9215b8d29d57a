package app.outpost

import app.outpost.ffi.Category
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Urgency
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/** The sync indicator and when background sync is expedited. */
class SyncIndicatorTest {
    @TempDir
    lateinit var dir: Path

    private val online = SyncFacts(enrolled = true, online = true, lastAttemptAt = 100, lastSuccessAt = 100)

    private fun state(f: SyncFacts) = SyncBadge.of(f).state

    @Test
    fun `each situation on the street shows its own state`() {
        assertEquals(SyncIndicator.UP_TO_DATE, state(online))
        assertEquals(SyncIndicator.PENDING, state(online.copy(pending = 2)))
        assertEquals(SyncIndicator.SYNCING, state(online.copy(pending = 2, running = true)))
        assertEquals(SyncIndicator.OFFLINE, state(online.copy(online = false, pending = 3)))
        assertEquals(SyncIndicator.NOT_ENROLLED, state(SyncFacts(enrolled = false, online = true, pending = 1)))

        // A failure after the last success shows, with its message; a success after it clears it.
        val failed = online.copy(lastAttemptAt = 200, lastError = "cannot reach the server: timed out")
        assertEquals(SyncIndicator.FAILED, state(failed))
        assertEquals("cannot reach the server: timed out", SyncBadge.of(failed).error)
        assertEquals(SyncIndicator.UP_TO_DATE, state(failed.copy(lastSuccessAt = 200)))
        assertNull(SyncBadge.of(failed.copy(lastSuccessAt = 200)).error)
        assertEquals(SyncIndicator.FAILED, state(SyncFacts(enrolled = true, online = true, lastAttemptAt = 5, lastError = "401")))

        // Offline wins over an old failure: the phone knows why nothing moves.
        assertEquals(SyncIndicator.OFFLINE, state(failed.copy(online = false)))
    }

    @Test
    fun `unsent life-safety cases make the badge urgent and the sync expedited`() {
        val waiting = online.copy(online = false, pending = 4, pendingLifeSafety = 1)
        val badge = SyncBadge.of(waiting)
        assertTrue(badge.urgent)
        assertEquals(4, badge.pending)
        assertTrue(SyncPolicy.expedite(waiting))
        assertFalse(SyncPolicy.expedite(waiting.copy(pendingLifeSafety = 0)))
        assertFalse(SyncPolicy.expedite(waiting.copy(enrolled = false)))
        assertTrue(SyncPolicy.expedite(Urgency.LIFE_SAFETY))
        assertFalse(Urgency.entries.filter { it != Urgency.LIFE_SAFETY }.any { SyncPolicy.expedite(it) })
    }

    @Test
    fun `the badge follows the core's sync state on a real store`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.rider)
            val online = MutableStateFlow(false)
            val badges = Channel<SyncBadge>(Channel.UNLIMITED)
            val screen = launch(Dispatchers.Default) { app.syncBadges(online).collect { badges.send(it) } }
            suspend fun next(until: (SyncBadge) -> Boolean): SyncBadge = withTimeout(10_000) {
                var b = badges.receive()
                while (!until(b)) b = badges.receive()
                b
            }

            val first = next { true }
            assertEquals(SyncIndicator.NOT_ENROLLED, first.state)
            assertEquals(0, first.pending)
            assertFalse(first.urgent)

            // Saved offline: counted as waiting, in the alarm colour while a life-safety case is among them.
            app.flagPersonInDistress(Seed.GRID)
            val flagged = next { it.pending == 1 }
            assertTrue(flagged.urgent)
            app.report(ReportDraft(Category.WASTE, note = "垃圾堆放").toNewCase(Seed.GRID, "waste"))
            val two = next { it.pending == 2 }
            assertTrue(two.urgent)
            val facts = SyncFacts.of(app.syncState(), online = true)
            assertEquals(2, facts.pending)
            assertEquals(1, facts.pendingLifeSafety)
            assertFalse(SyncPolicy.expedite(facts), "no server to send it to yet")
            assertTrue(SyncPolicy.expedite(facts.copy(enrolled = true)))

            // No server yet: a sync is refused as such, and the badge keeps saying why nothing moves.
            val refused = runCatching { app.syncNow() }.exceptionOrNull()
            assertTrue(refused is OutpostException.NotEnrolled, "$refused")
            assertEquals(SyncIndicator.NOT_ENROLLED, SyncBadge.of(SyncFacts.of(app.syncState(), online = true)).state)
            screen.cancel()
        }
    }
}
