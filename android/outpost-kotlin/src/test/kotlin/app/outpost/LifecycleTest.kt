package app.outpost

import app.outpost.ffi.DataChange
import app.outpost.ffi.DataListener
import app.outpost.ffi.Store
import app.outpost.ffi.liveHandles
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/** Closing objects releases them at once: nothing grows over many open/close cycles. */
class LifecycleTest {
    @TempDir
    lateinit var dir: Path

    private val cycles = 10_000

    @Test
    fun `ten thousand opens and closes of the store leak nothing`() {
        val path = dbIn(dir)
        Store.open(path).use { it.setMember(Seed.rider) }
        // Warm up (JIT, JNA's caches, the heap's working size) before taking the baseline.
        repeat(2_000) { Store.open(path).close() }
        val fds = openFds()
        val stores = liveHandles().stores
        val rss = settledRssKiB()
        repeat(cycles) { i ->
            Store.open(path).use { store ->
                // Touch it, so the connection really is in use.
                if (i % 1000 == 0) assertEquals(Seed.rider, store.member())
            }
        }
        // Each open holds the database, its WAL and shared-memory files: a leak of even one
        // connection per cycle would show as thousands of descriptors.
        assertTrue(openFds() <= fds + 5, "fds grew from $fds to ${openFds()}")
        assertTrue(liveHandles().stores <= stores, "live stores grew from $stores to ${liveHandles().stores}")
        // Resident memory moves by a few MiB; a leaked store (SQLite
        // connection, its caches and schema, the document cache) costs far more than 3 KiB,
        // so 10,000 of them would show well above this bound (the heap is fixed and pre-touched).
        val grownMiB = (settledRssKiB() - rss) / 1024
        println("store open/close x$cycles: resident memory grew by $grownMiB MiB, fds $fds -> ${openFds()}")
        assertTrue(grownMiB < 32, "resident memory grew by $grownMiB MiB")
    }

    @Test
    fun `ten thousand created and closed objects leak nothing`() {
        Store.open(dbIn(dir)).use { store ->
            store.setMember(Seed.rider)
            val subs = liveHandles().subscriptions
            val noop = object : DataListener {
                override fun onChange(change: DataChange) {}
            }
            repeat(cycles) {
                store.subscribe(noop).use { assertTrue(it.isActive()) }
                store.cases().use { }
                store.inspections().use { }
                store.templates().use { }
            }
            assertEquals(0u, store.listenerCount())
            assertTrue(liveHandles().subscriptions <= subs, "subscriptions grew from $subs to ${liveHandles().subscriptions}")

            // A case created through a handle closed right after is stored all the same.
            val id = store.cases().use { it.flagPersonInDistress(Seed.GRID, null, null, null) }
            assertEquals(id, store.cases().use { it.get(id).id })
        }
    }

    @Test
    fun `an area keeps the database open until it is closed too, and a closed object refuses calls`() {
        val stores = liveHandles().stores
        val store = Store.open(dbIn(dir))
        store.setMember(Seed.rider)
        val cases = store.cases()
        store.close()
        // Still usable: the database closes with the last object of the store.
        val id = cases.flagPersonInDistress(Seed.GRID, null, null, null)
        assertEquals(id, cases.get(id).id)
        assertEquals(stores + 1, liveHandles().stores)
        cases.close()
        assertEquals(stores, liveHandles().stores)

        // Calling a closed object is a Kotlin exception, not a crash.
        assertThrows(IllegalStateException::class.java) { cases.get(id) }
        assertThrows(IllegalStateException::class.java) { store.member() }
        cases.close()
    }
}
