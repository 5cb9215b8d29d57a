package app.outpost

import app.outpost.ffi.CaseSummary
import app.outpost.ffi.Category
import app.outpost.ffi.DataChange
import app.outpost.ffi.EventKind
import app.outpost.ffi.GridLevel
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Role
import app.outpost.ffi.Store
import app.outpost.ffi.SyncEvent
import app.outpost.ffi.SyncListener
import app.outpost.ffi.SyncOptions
import app.outpost.ffi.liveHandles
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/**
 * Enrollment and sync against a real `outpost-server` process (started by
 * scripts/suites/kotlin.sh): the rider's flag travels to the grid member and the grid
 * member's answer travels back; listeners hear it; failures are typed and never hang.
 */
class SyncStoryTest {
    @TempDir
    lateinit var dir: Path

    /** Runs [block] and returns the exception of type [E] it must throw, with [message]. */
    private suspend inline fun <reified E : OutpostException> expect(message: String, block: suspend () -> Unit): E {
        val thrown = try {
            block()
            null
        } catch (e: OutpostException) {
            e
        }
        assertTrue(thrown is E, "expected ${E::class.simpleName}, got $thrown")
        assertTrue(thrown!!.message!!.contains(message), "message was: ${thrown.message}")
        return thrown as E
    }

    /** Collects [flow] into a channel on a background dispatcher. */
    private fun <T> CoroutineScope.collectInto(flow: Flow<T>): Pair<Channel<T>, kotlinx.coroutines.Job> {
        val out = Channel<T>(Channel.UNLIMITED)
        return out to launch(Dispatchers.Default) { flow.collect { out.send(it) } }
    }

    private suspend fun waitUntil(what: String, condition: () -> Boolean) {
        withTimeout(10_000) {
            while (!condition()) delay(5)
        }
        assertTrue(condition(), what)
    }

    private suspend fun <T> Channel<T>.next(): T = withTimeout(10_000) { receive() }

    /** Receives until a value satisfies [predicate] (bounded). */
    private suspend fun <T> Channel<T>.until(predicate: (T) -> Boolean): T =
        withTimeout(10_000) {
            var v = receive()
            while (!predicate(v)) v = receive()
            v
        }

    /** The events of one sync: Started, Progress after each round trip, then Finished or Failed. */
    private suspend fun Channel<SyncEvent>.oneSync(): List<SyncEvent> {
        val events = mutableListOf(next())
        while (events.last() !is SyncEvent.Finished && events.last() !is SyncEvent.Failed) events += next()
        return events
    }

    @Test
    fun `a rider's flag reaches the grid member through the server and the answer comes back`() = runBlocking {
        Outpost.open(dbIn(dir, "rider.db")).use { rider ->
            Outpost.open(dbIn(dir, "member.db")).use { member ->
                for (app in listOf(rider, member)) {
                    app.syncOptions = SyncOptions(timeoutMs = 10_000, connectTimeoutMs = 2_000, retries = 1)
                }

                // Both phones enroll with invite codes their grid lead handed out.
                val r = rider.enroll(TestServer.url, TestServer.courierCode, "王师傅的手机")
                assertEquals(Role.COURIER, r.directory.member.role)
                assertEquals(r.directory.member, rider.member())
                val grid = r.directory.grids.first { it.level == GridLevel.GRID }.id
                assertEquals(TestServer.grid, grid)
                val m = member.enroll(TestServer.url, TestServer.memberCode, "李网格员的手机")
                assertEquals(Role.GRID_MEMBER, m.directory.member.role)
                assertTrue(grid in m.directory.member.grids, "${m.directory.member.grids}")
                assertEquals(m.directory, member.directory())
                member.syncState().let {
                    assertTrue(it.enrolled)
                    assertEquals(TestServer.url, it.serverUrl)
                    assertEquals(m.deviceId, it.deviceId)
                    assertNull(it.lastSuccessAt)
                }

                // The grid member's queue screen is open; both phones show sync progress.
                val (queue, queueJob) = collectInto(member.openQueue())
                assertEquals(emptyList<CaseSummary>(), queue.next())
                val (memberChanges, changesJob) = collectInto(member.changes)
                val (riderEvents, riderEventsJob) = collectInto(rider.syncEvents)
                val (memberEvents, memberEventsJob) = collectInto(member.syncEvents)
                waitUntil("listeners registered") {
                    member.listenerCount == 2 && rider.syncListenerCount == 1 && member.syncListenerCount == 1
                }

                // No signal on Yinhang Road: the flag is saved at once and waits.
                val id = rider.flagPersonInDistress(grid, Seed.lane650, note = "老人倒地，疑似中暑")
                rider.syncState().let {
                    assertEquals(1L, it.unsentDocs)
                    assertEquals(1L, it.unsentLifeSafety)
                }

                // Signal returns: the rider's phone syncs.
                val pushed = rider.syncNow()
                assertEquals(1L, pushed.pushedDocs)
                assertTrue(pushed.pushedChanges >= 1, "$pushed")
                assertTrue(pushed.refused.isEmpty(), "${pushed.refused}")
                val riderSync = riderEvents.oneSync()
                assertEquals(SyncEvent.Started, riderSync.first())
                val progress = riderSync.filterIsInstance<SyncEvent.Progress>().map { it.progress }
                assertEquals(pushed.roundTrips, progress.size.toLong())
                assertEquals(1L, progress.first().round)
                assertEquals(1L, progress.last().pushedDocs)
                assertFalse(progress.last().more)
                assertEquals(SyncEvent.Finished(pushed), riderSync.last())
                rider.syncState().let {
                    assertEquals(0L, it.unsentDocs)
                    assertNotNull(it.lastSuccessAt)
                    assertNull(it.lastError)
                    assertTrue(it.pushedTotal >= 1)
                }

                // The grid member's phone syncs and the queue shows the flag by itself.
                val pulled = member.syncNow()
                assertEquals(listOf(id), pulled.changedCaseIds)
                assertTrue(pulled.pulledChanges >= 1, "$pulled")
                assertEquals(DataChange(listOf(id), emptyList(), memberChanged = false, templatesChanged = false), memberChanges.next())
                assertEquals(listOf(id), queue.next().map { it.id })
                val memberSync = memberEvents.oneSync()
                assertTrue(memberSync.filterIsInstance<SyncEvent.Progress>().last().progress.pulledChanges >= 1)
                assertEquals(SyncEvent.Finished(pulled), memberSync.last())
                member.case(id).let {
                    assertEquals(Category.PERSON_IN_DISTRESS, it.category)
                    assertEquals("老人倒地，疑似中暑", it.description)
                    assertEquals(r.directory.member.id, it.reporterId)
                    assertEquals(Seed.lane650, it.location)
                }

                // The grid member answers; after both sync, the rider sees it.
                member.record(id, EventKind.Comment("已到场，老人意识清醒，已联系家属"))
                assertEquals(1L, member.syncNow().pushedDocs)
                val back = rider.syncNow()
                assertEquals(listOf(id), back.changedCaseIds)
                assertTrue(
                    rider.case(id).timeline.any { it.kind == EventKind.Comment("已到场，老人意识清醒，已联系家属") },
                    "${rider.case(id).timeline}",
                )
                // Nothing new: one round trip, nothing pulled, nobody told.
                val quiet = member.syncNow()
                assertEquals(1L, quiet.roundTrips)
                assertTrue(quiet.changedCaseIds.isEmpty(), "$quiet")

                listOf(queueJob, changesJob, riderEventsJob, memberEventsJob).forEach { it.cancel() }
                waitUntil("listeners removed") {
                    member.listenerCount == 0 && rider.syncListenerCount == 0 && member.syncListenerCount == 0
                }
            }
        }
    }

    @Test
    fun `bad addresses and invite codes are typed exceptions`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.syncOptions = SyncOptions(timeoutMs = 10_000, connectTimeoutMs = 2_000, retries = 0)
            expect<OutpostException.Invalid>("https://") { app.enroll("outpost.example.org", "ABCD-EFGH-JKLM", "x") }
            expect<OutpostException.Invalid>("invite code must not be empty") { app.enroll(TestServer.url, "  ", "x") }
            // A code nobody issued: the server refuses it.
            expect<OutpostException.Rejected>("invite code is unknown") {
                app.enroll(TestServer.url, "AAAA-BBBB-CCCC", "王师傅的手机")
            }
            assertFalse(app.syncState().enrolled)
            assertNull(app.directory())
            expect<OutpostException.NotEnrolled>("not enrolled") { app.syncNow() }
            expect<OutpostException.NotEnrolled>("not enrolled") { app.refreshDirectory() }

            val options = app.syncOptions
            expect<OutpostException.Invalid>("timeout_ms") { app.syncOptions = SyncOptions(timeoutMs = 0) }
            expect<OutpostException.Invalid>("retries") { app.syncOptions = SyncOptions(retries = -1) }
            assertEquals(options, app.syncOptions)
        }
    }

    @Test
    fun `a revoked phone gets Unauthorized and comes back with a new invite code`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.syncOptions = SyncOptions(timeoutMs = 10_000, connectTimeoutMs = 2_000, retries = 0)
            app.enroll(TestServer.url, TestServer.revokedMemberCode, "孙网格员的手机")
            assertEquals(1L, app.syncNow().roundTrips)

            // The phone is lost: the grid lead revokes it on the server.
            TestServer.admin("revoke", "--member", "gm-sun")
            expect<OutpostException.Unauthorized>("did not accept this device") { app.syncNow() }
            expect<OutpostException.Unauthorized>("did not accept this device") { app.refreshDirectory() }
            // A spent code stays spent.
            expect<OutpostException.Rejected>("invite code is unknown") {
                app.enroll(TestServer.url, TestServer.revokedMemberCode, "孙网格员的手机")
            }

            // A new code brings it back, with the same data on the phone.
            val code = TestServer.admin("invite", "gm-sun").trim()
            app.enroll(TestServer.url, code, "孙网格员的新手机")
            assertEquals(1L, app.syncNow().roundTrips)
            assertNull(app.syncState().lastError)
        }
    }

    @Test
    fun `a server that went away or never answers is a Network exception, not a hang`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.syncOptions = SyncOptions(timeoutMs = 2_000, connectTimeoutMs = 1_000, retries = 1)
            val (events, eventsJob) = collectInto(app.syncEvents)
            // The status line: not enrolled yet.
            val (status, statusJob) = collectInto(app.syncStatus)
            assertFalse(status.next().enrolled)
            waitUntil("sync listeners registered") { app.syncListenerCount == 2 }

            // Enrolled through a relay that then goes away, as a server behind a dead link.
            Relay(TestServer.url).use { relay ->
                val e = app.enroll(relay.url, TestServer.relayedMemberCode, "赵网格员的手机")
                assertEquals(Role.GRID_MEMBER, e.directory.member.role)
                app.syncNow()
                assertTrue(events.oneSync().last() is SyncEvent.Finished)
                assertNotNull(status.until { it.enrolled && it.lastSuccessAt != null }.deviceId)
            }
            val started = System.nanoTime()
            // Named by its cause (issue 15): the relay's port now refuses connections.
            val e = expect<OutpostException.Network>("refused the connection") { withTimeout(30_000) { app.syncNow() } }
            val tookMs = (System.nanoTime() - started) / 1_000_000
            assertTrue(tookMs < 10_000, "a refused connection took $tookMs ms")
            val failed = events.oneSync()
            assertEquals(listOf(SyncEvent.Started, SyncEvent.Failed(e.message!!)), failed)
            app.syncState().let {
                assertTrue(it.enrolled)
                assertTrue(it.lastError!!.contains("refused the connection"), it.lastError)
                assertEquals(it, status.until { s -> s.lastError != null })
            }
            eventsJob.cancel()
            statusJob.cancel()
            waitUntil("sync listeners removed") { app.syncListenerCount == 0 && app.listenerCount == 0 }
        }

        // A server that takes the connection and never answers: the time limit ends the wait.
        SilentServer().use { silent ->
            Outpost.open(dbIn(dir, "other.db")).use { app ->
                app.syncOptions = SyncOptions(timeoutMs = 1_500, connectTimeoutMs = 1_000, retries = 0)
                val started = System.nanoTime()
                // Named by its cause (issue 15): a time-out, the connection stalled.
                expect<OutpostException.Network>("timed out") {
                    withTimeout(30_000) { app.enroll(silent.url, "AAAA-BBBB-CCCC", "x") }
                }
                val tookMs = (System.nanoTime() - started) / 1_000_000
                assertTrue(tookMs in 1_000..10_000, "a silent server took $tookMs ms")
            }
        }
    }

    @Test
    fun `sync listeners hear each sync until their handle is closed, and a throwing one breaks nothing`() = runBlocking {
        val subscriptions = liveHandles().subscriptions
        Store.open(dbIn(dir)).use { store ->
            store.sync().use { sync ->
                val heard = LinkedBlockingQueue<SyncEvent>()
                val sub = sync.subscribe(
                    object : SyncListener {
                        override fun onEvent(event: SyncEvent) {
                            heard.add(event)
                        }
                    },
                )
                val bad = sync.subscribe(
                    object : SyncListener {
                        override fun onEvent(event: SyncEvent): Unit = throw IllegalStateException("listener bug")
                    },
                )
                assertEquals(2u, sync.listenerCount())
                // Not enrolled: the sync fails at once, and says so to its listeners.
                val e = expect<OutpostException.NotEnrolled>("not enrolled") { sync.sync() }
                assertEquals(SyncEvent.Started, heard.poll(5, TimeUnit.SECONDS))
                assertEquals(SyncEvent.Failed(e.message!!), heard.poll(5, TimeUnit.SECONDS))

                sub.close()
                bad.cancel()
                assertFalse(bad.isActive())
                assertEquals(0u, sync.listenerCount())
                expect<OutpostException.NotEnrolled>("not enrolled") { sync.sync() }
                assertNull(heard.poll(200, TimeUnit.MILLISECONDS))
                bad.close()
            }
        }
        assertEquals(subscriptions, liveHandles().subscriptions)
    }
}
