package app.outpost

import app.outpost.ffi.CaseSummary
import app.outpost.ffi.Category
import app.outpost.ffi.EventKind
import app.outpost.ffi.Status
import app.outpost.ffi.Urgency
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
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

/**
 * A delivery rider finds an elderly woman collapsed in the heat on Yinhang Road, lane 650,
 * with no signal. The flag is saved at once, shows in the rider's list, and the grid lead
 * acknowledges it ("received, someone is coming").
 */
class FlagOfflineStoryTest {
    @TempDir
    lateinit var dir: Path

    @Test
    fun `a rider flags a person in distress offline and sees it acknowledged`() = runBlocking {
        val path = dbIn(dir)
        val caseId: String
        // The camera's file; core keeps a copy under its hash.
        val photo = Seed.photoFile("collapsed-at-lane-650")
        Outpost.open(path).use { app ->
            app.setMember(Seed.rider)
            assertEquals(Seed.rider, app.member())

            // The "my reports" screen is on; it starts empty and follows every write.
            val myReports = Channel<List<CaseSummary>>(Channel.UNLIMITED)
            val screen = launch(Dispatchers.Default) { app.myReports().collect { myReports.send(it) } }
            assertEquals(emptyList<CaseSummary>(), withTimeout(10_000) { myReports.receive() })

            caseId = app.flagPersonInDistress(Seed.GRID, Seed.lane650, note = "老人倒地，疑似中暑", photo = photo)

            val listed = withTimeout(10_000) { myReports.receive() }
            assertEquals(listOf(caseId), listed.map { it.id })
            assertEquals(Urgency.LIFE_SAFETY, listed[0].urgency)
            assertEquals(Status.NEW, listed[0].status)
            assertEquals("殷行路650弄", listed[0].address)

            val case = app.case(caseId)
            assertEquals(Category.PERSON_IN_DISTRESS, case.category)
            assertTrue(case.title.contains("殷行路650弄"), case.title)
            assertEquals("老人倒地，疑似中暑", case.description)
            val hash = Seed.hashOf(photo)
            assertEquals(listOf(hash), case.attachments)
            assertEquals(java.io.File(photo).readBytes().toList(), java.io.File(app.photoPath(hash)!!).readBytes().toList())
            assertEquals(Seed.lane650, case.location)
            assertEquals("rider-7", case.reporterId)
            assertFalse(case.acknowledged)
            // The flag is saved first, the photo follows on its timeline.
            assertEquals(listOf(EventKind.Created, EventKind.PhotoAdded(hash)), case.timeline.map { it.kind })
            assertNull(case.timeline[0].conflict)

            // No GPS fix either: the flag is still taken.
            val noFix = app.flagPersonInDistress(Seed.GRID)
            assertEquals(setOf(caseId, noFix), withTimeout(10_000) { myReports.receive() }.map { it.id }.toSet())
            assertNull(app.case(noFix).location)

            // Search works on the Chinese note.
            assertEquals(listOf(caseId), app.search("中暑").map { it.id })
            screen.cancel()
        }

        // Saved at once: a fresh process (here: a fresh store) sees it, and the grid lead
        // on the workstation's device accepts it.
        Outpost.open(path).use { app ->
            app.setMember(Seed.gridLead)
            val queue = app.openQueue().awaitFirst { it.size == 2 }
            assertTrue(queue.all { it.urgency == Urgency.LIFE_SAFETY })

            app.accept(caseId)
            val detail = app.caseDetail(caseId).awaitFirst { it.acknowledged }
            assertEquals(Status.ACCEPTED, detail.status)
            assertEquals(listOf(EventKind.Created, EventKind.PhotoAdded(Seed.hashOf(photo)), EventKind.Accepted), detail.timeline.map { it.kind })
            assertEquals("lead-zhang", detail.timeline[2].author)
            assertTrue(detail.acceptedAt != null)

            // Dispatch to the residents' committee with a deadline, then resolve.
            val deadline = System.currentTimeMillis() + 3_600_000
            app.record(caseId, EventKind.Dispatched(unitId = "juweihui-yinhang", deadline = deadline))
            app.record(caseId, EventKind.Resolved(note = "居委会和志愿者已送医"))
            val resolved = app.case(caseId)
            assertEquals(Status.RESOLVED, resolved.status)
            assertEquals("juweihui-yinhang", resolved.assignedUnit)
            assertEquals(deadline, resolved.deadline)
            assertFalse(resolved.overdue)
            assertFalse(app.openQueue().awaitFirst { true }.any { it.id == caseId })
        }
    }
}
