package app.outpost

import app.outpost.ffi.AnswerValue
import app.outpost.ffi.Category
import app.outpost.ffi.Datum
import app.outpost.ffi.EventKind
import app.outpost.ffi.Location
import app.outpost.ffi.NewCase
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Site
import app.outpost.ffi.Store
import app.outpost.ffi.Urgency
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import org.junit.jupiter.api.function.Executable
import java.io.File
import java.nio.file.Path

/** Bad input and refused actions arrive as typed exceptions with readable messages. */
class ErrorsTest {
    @TempDir
    lateinit var dir: Path

    private inline fun <reified E : OutpostException> expect(message: String, noinline block: suspend () -> Unit): E {
        val e = assertThrows(E::class.java, Executable { runBlocking { block() } })
        assertTrue(e.message!!.contains(message), "message was: ${e.message}")
        return e
    }

    private fun waste(title: String, grid: String = Seed.GRID, location: Location? = null, photos: List<String> = emptyList()) =
        NewCase(Category.WASTE, Urgency.LOW, title, grid, "", location, photos)

    @Test
    fun `input is checked before anything is stored`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            expect<OutpostException.NoMember>("no member is signed in") { app.flagPersonInDistress(Seed.GRID) }

            app.setMember(Seed.gridMember)
            val e = expect<OutpostException.Invalid>("title must not be empty") { app.report(waste("   ")) }
            assertEquals("title must not be empty", e.message)
            expect<OutpostException.Invalid>("title is longer than 200 characters") { app.report(waste("长".repeat(201))) }
            expect<OutpostException.Invalid>("latitude 91") {
                app.report(waste("垃圾", location = Location(91.0, 121.5, null, Datum.GCJ02, null)))
            }
            expect<OutpostException.Invalid>("location accuracy") {
                app.flagPersonInDistress(Seed.GRID, Location(31.0, 121.5, -3.0, Datum.WGS84, null))
            }
            expect<OutpostException.Invalid>("not a valid photo reference") { app.report(waste("垃圾", photos = listOf("IMG_0001.jpg"))) }
            expect<OutpostException.Invalid>("unknown action 'created'") {
                val id = app.report(waste("垃圾"))
                app.record(id, EventKind.Created)
            }
            expect<OutpostException.Invalid>("limit and offset must not be negative") { app.openQueue(limit = -1).awaitFirst { true } }

            expect<OutpostException.Forbidden>("grid g-wujiaochang-3 is outside your grids") {
                app.report(waste("垃圾", grid = Seed.OTHER_GRID))
            }
            expect<OutpostException.Forbidden>("cannot accept a case") {
                app.accept(app.report(waste("垃圾")))
            }
            expect<OutpostException.NotFound>("case no-such-case not found") { app.case("no-such-case") }
            expect<OutpostException.NotFound>("template no-such-template not found") {
                app.startInspection("no-such-template", Site("店", Seed.GRID, null, null))
            }

            // Only the two valid reports were stored, nothing from the refusals.
            assertEquals(2, app.myReports().awaitFirst { true }.size)
        }
    }

    @Test
    fun `actions that do not fit the state or the role are refused`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.rider)
            expect<OutpostException.Forbidden>("a courier cannot run inspections") {
                app.startInspection("residential-fire-safety", Site("3号楼", Seed.GRID, null, null))
            }
            val id = app.flagPersonInDistress(Seed.GRID)
            app.record(id, EventKind.Cancelled("误报 false alarm"))
            app.setMember(Seed.gridLead)
            expect<OutpostException.WrongState>("cannot resolve a case that is cancelled") {
                app.record(id, EventKind.Resolved("done"))
            }
            expect<OutpostException.Invalid>("satisfaction 9 is outside 1..=5") {
                app.record(id, EventKind.FollowUp(visitedAt = 1, satisfaction = 9, note = ""))
            }

            // A wrong answer kind, and the async path: errors come through suspend calls too.
            val insp = app.startInspection("residential-fire-safety", Site("3号楼", Seed.GRID, null, null))
            expect<OutpostException.Invalid>("item 'fire_lane_clear' takes pass/fail, not a number") {
                app.answer(insp, "fire_lane_clear", AnswerValue.Number(3.0))
            }
            expect<OutpostException.Invalid>("checklist item 'no_such_item' is not part of this inspection") {
                app.answer(insp, "no_such_item", AnswerValue.Pass)
            }
            expect<OutpostException.Invalid>("item 'stairwell_photo' needs at least one photo") {
                app.answer(insp, "stairwell_photo", AnswerValue.Photo)
            }
            expect<OutpostException.Invalid>("checklist item(s) have no answer yet, first 'fire_lane_clear'") { app.submit(insp) }
            expect<OutpostException.NotFound>("inspection nope not found") { app.submit("nope") }
        }
    }

    @Test
    fun `a file that is not an Outpost database is refused and left alone`() {
        val notes = File(dir.toFile(), "notes.txt")
        val text = "这不是数据库 ".repeat(2000)
        notes.writeText(text)
        val e = assertThrows(OutpostException.NotAStore::class.java) { Store.open(notes.path) }
        assertTrue(e.message!!.contains("not an Outpost database"), e.message)
        assertEquals(text, notes.readText())

        assertThrows(OutpostException.Invalid::class.java) { Store.open("  ") }
        val missingDir = File(dir.toFile(), "no/such/dir/outpost.db").path
        assertThrows(OutpostException::class.java) { Store.open(missingDir) }
    }
}
