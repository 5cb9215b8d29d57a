package app.outpost

import app.outpost.ffi.AnswerValue
import app.outpost.ffi.DataChange
import app.outpost.ffi.DataListener
import app.outpost.ffi.EventKind
import app.outpost.ffi.NewCase
import app.outpost.ffi.Category
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Site
import app.outpost.ffi.Store
import app.outpost.ffi.Urgency
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/** Records every change it is told about. */
class Recorder : DataListener {
    val seen = LinkedBlockingQueue<DataChange>()
    override fun onChange(change: DataChange) {
        seen.add(change)
    }

    /** The one change a write produced (and that there was exactly one). */
    fun one(): DataChange {
        val c = seen.poll(5, TimeUnit.SECONDS) ?: error("no change reported")
        assertNull(seen.poll(), "more than one change reported")
        return c
    }
}

/** "Data changed" events: one per successful write, none otherwise, until the handle stops. */
class ListenerTest {
    @TempDir
    lateinit var dir: Path
    private lateinit var store: Store
    private val areas = mutableListOf<AutoCloseable>()

    @BeforeEach
    fun open() {
        store = Store.open(dbIn(dir))
    }

    @AfterEach
    fun close() {
        areas.forEach { it.close() }
        store.close()
    }

    @Test
    fun `every write through any area reports what it changed`() = runBlocking {
        val rec = Recorder()
        store.subscribe(rec).use { sub ->
            assertTrue(sub.isActive())
            assertEquals(1u, store.listenerCount())

            store.setMember(Seed.gridLead)
            assertEquals(DataChange(emptyList(), emptyList(), memberChanged = true, templatesChanged = false), rec.one())

            val cases = store.cases().also { areas += it }
            val id = cases.create(NewCase(Category.WASTE, Urgency.NORMAL, "垃圾堆放", Seed.GRID, "", null, emptyList()))
            assertEquals(listOf(id), rec.one().caseIds)
            cases.record(id, EventKind.Comment("已通知物业"))
            assertEquals(listOf(id), rec.one().caseIds)

            // Reads and failed writes report nothing.
            cases.get(id)
            cases.openQueue(10, 0)
            assertThrows(OutpostException::class.java) { cases.record(id, EventKind.Comment("   ")) }
            assertNull(rec.seen.poll(200, TimeUnit.MILLISECONDS))

            val insp = store.inspections().also { areas += it }
            val iid = insp.start("shop-fire-safety", Site("小吃店", Seed.GRID, null, null), null)
            assertEquals(listOf(iid), rec.one().inspectionIds)
            val items = insp.get(iid).template.sections.flatMap { it.items }
            insp.answer(iid, items[0].id, AnswerValue.NotApplicable, "", emptyList())
            assertEquals(DataChange(emptyList(), listOf(iid), false, false), rec.one())

            val json = """{"id":"night-market","version":1,"title":"夜市巡查","rectification_days":{"critical":1,"major":2,"minor":5},
                "sections":[{"id":"s","title":"通道","items":[{"id":"aisle","prompt":"通道畅通","answer":"pass_fail","severity":"major"}]}]}"""
            assertEquals("night-market", store.templates().also { areas += it }.install(json).id)
            assertTrue(rec.one().templatesChanged)
        }
        // Closed: gone from the store, and writes are no longer reported.
        assertEquals(0u, store.listenerCount())
        store.cases().use { it.flagPersonInDistress(Seed.GRID, null, null, null) }
        assertNull(rec.seen.poll(200, TimeUnit.MILLISECONDS))
    }

    @Test
    fun `cancel stops the calls and a throwing listener breaks nothing`() {
        store.setMember(Seed.rider)
        val cases = store.cases().also { areas += it }
        val rec = Recorder()
        val sub = store.subscribe(rec)
        val bad = store.subscribe(object : DataListener {
            override fun onChange(change: DataChange): Unit = throw IllegalStateException("listener bug")
        })
        val first = cases.flagPersonInDistress(Seed.GRID, null, null, null)
        // The write stands and the other listener still heard of it.
        assertEquals(listOf(first), rec.one().caseIds)

        sub.cancel()
        sub.cancel()
        assertFalse(sub.isActive())
        cases.flagPersonInDistress(Seed.GRID, null, null, null)
        assertNull(rec.seen.poll(200, TimeUnit.MILLISECONDS))
        assertEquals(1u, store.listenerCount())
        bad.close()
        sub.close()
        assertEquals(0u, store.listenerCount())
        assertEquals(2, cases.myReports(10, 0).size)
    }

    @Test
    fun `a subscription outliving its store is harmless`() {
        val other = Store.open(dbIn(dir, "other.db"))
        val sub = other.subscribe(Recorder())
        assertTrue(sub.isActive())
        // The subscription does not keep the database open.
        other.close()
        assertFalse(sub.isActive())
        sub.cancel()
        sub.close()
        assertTrue(sub.uniffiIsDestroyed)
    }

    @Test
    fun `a collected flow removes its listener`() = runBlocking {
        Outpost.open(dbIn(dir, "flow.db")).use { app ->
            app.setMember(Seed.rider)
            val changes = Channel<DataChange>(Channel.UNLIMITED)
            val job = launch(Dispatchers.Default) { app.changes.collect { changes.send(it) } }
            // The listener is registered once the collector runs; wait for it.
            withTimeout(10_000) { while (app.listenerCount == 0) kotlinx.coroutines.delay(5) }
            val id = app.flagPersonInDistress(Seed.GRID)
            assertEquals(listOf(id), withTimeout(10_000) { changes.receive() }.caseIds)
            job.cancel()
            job.join()
            withTimeout(10_000) { while (app.listenerCount != 0) kotlinx.coroutines.delay(5) }
        }
    }
}
