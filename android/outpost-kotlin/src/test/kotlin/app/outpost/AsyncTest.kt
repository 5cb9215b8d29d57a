package app.outpost

import app.outpost.ffi.OutpostException
import app.outpost.ffi.InspectionStatus
import app.outpost.ffi.Site
import app.outpost.ffi.Store
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.newSingleThreadContext
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path
import java.util.concurrent.atomic.AtomicInteger

/** The async functions run on the core's tokio runtime and work from coroutines. */
class AsyncTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `async calls suspend without holding the caller's thread`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.gridMember)
            // Everything on ONE thread: the integrity checks suspend, so the ticker on the
            // same thread keeps running while they are in flight.
            @Suppress("OPT_IN_USAGE")
            newSingleThreadContext("ui").use { ui ->
                withContext(ui) {
                    val ticks = AtomicInteger()
                    val ticker = launch { while (true) { ticks.incrementAndGet(); yield() } }
                    val checks = (1..20).map { async { app.checkIntegrity() } }
                    withTimeout(30_000) { checks.awaitAll() }
                    ticker.cancel()
                    assertTrue(ticks.get() > 0)
                }
            }
        }
    }

    @Test
    fun `many coroutines write at once and every write lands`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.rider)
            val ids = (1..8).map { worker ->
                async(Dispatchers.IO) { (1..25).map { app.flagPersonInDistress(Seed.GRID, note = "worker $worker #$it") } }
            }.awaitAll().flatten()
            assertEquals(200, ids.toSet().size)
            assertEquals(ids.toSet(), app.myReports(limit = 500).awaitFirst { it.size == 200 }.map { it.id }.toSet())
            app.checkIntegrity()
        }
    }

    @Test
    fun `cancelling a submit leaves the store consistent`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.gridMember)
            val template = app.templates().single { it.id == "shop-fire-safety" }
            val id = app.startInspection(template.id, Site("小吃店", Seed.GRID, null, null))
            for (item in template.sections.flatMap { it.items }) {
                val (value, photos) = passing(item)
                app.answer(id, item.id, value, photos = photos)
            }
            val job = launch(Dispatchers.Default) { app.submit(id) }
            job.cancel()
            job.join()
            // The cancelled call may still be finishing: submitting again either does the
            // whole submission or finds it whole already. Never half of it.
            try {
                assertEquals(emptyList<String>(), app.submit(id))
            } catch (e: OutpostException.WrongState) {
                assertTrue(e.message!!.contains("already submitted"), e.message)
            }
            assertEquals(InspectionStatus.SUBMITTED, app.inspection(id).status)
            app.checkIntegrity()
        }
    }

    @Test
    fun `the raw generated async function works without the facade`() = runBlocking {
        Store.open(dbIn(dir, "raw.db")).use { store ->
            store.checkIntegrity()
        }
    }
}
