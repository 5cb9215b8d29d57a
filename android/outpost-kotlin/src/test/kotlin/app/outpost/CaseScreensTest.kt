package app.outpost

import app.outpost.ffi.Action
import app.outpost.ffi.Category
import app.outpost.ffi.EventKind
import app.outpost.ffi.HomeList
import app.outpost.ffi.Member
import app.outpost.ffi.Role
import app.outpost.ffi.Status
import app.outpost.ffi.TimelineEntry
import app.outpost.ffi.Urgency
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/** Case detail, "my reports" and the lead's queue as the screens show them, over a real store. */
class CaseScreensTest {
    @TempDir
    lateinit var dir: Path

    private val unit = "juweihui-yinhang"
    private val responder = Member("resp-1", "居委会刘主任", Role.RESPONDER, emptyList(), unit)

    @Test
    fun `the reporter watches the acknowledgement arrive and the case close`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.rider)
            val id = app.flagPersonInDistress(Seed.GRID, Seed.lane650, note = "老人倒地")

            var d = app.caseScreen(id).awaitFirst { true }
            assertEquals(Acknowledgement.WAITING, d.acknowledgement)
            assertEquals("status_new", d.statusKey)
            assertEquals("category_person_in_distress", d.categoryKey)
            assertEquals("urgency_life_safety", d.urgencyKey)
            assertTrue(d.lifeSafety)
            assertFalse(d.overdue)
            assertEquals(listOf("event_created"), d.timeline.map { it.key })
            assertTrue(d.timeline.single().mine)

            val mine = app.myReportsScreen().awaitFirst { it.isNotEmpty() }.single()
            assertTrue(mine.lifeSafety)
            assertEquals(emptyList<Action>(), mine.quickActions)

            app.setMember(Seed.gridLead)
            assertNull(app.caseScreen(id).awaitFirst { true }.acknowledgement, "only the reporter gets the banner")
            val row = app.caseRows(HomeList.OPEN_CASES).awaitFirst { it.isNotEmpty() }.single()
            assertEquals(listOf(Action.ACCEPT, Action.DISPATCH), row.quickActions)
            app.perform(id, Action.ACCEPT)
            app.perform(id, Action.DISPATCH, ActionInput(unitId = unit, deadline = System.currentTimeMillis() + 3_600_000))
            val dispatched = app.caseRows(HomeList.OPEN_CASES).awaitFirst { it.single().summary.status == Status.DISPATCHED }.single()
            assertEquals(listOf(Action.DISPATCH), dispatched.quickActions, "taken on: only a re-dispatch is left on the row")

            app.setMember(Seed.rider)
            d = app.caseScreen(id).awaitFirst { true }
            assertEquals(Acknowledgement.COMING, d.acknowledgement)
            assertEquals(listOf("event_created", "event_accepted", "event_dispatched"), d.timeline.map { it.key })
            assertEquals(unit, d.timeline[2].text)
            assertTrue(d.timeline[2].deadline!! > System.currentTimeMillis())
            assertFalse(d.timeline[1].mine)

            app.setMember(responder)
            app.perform(id, Action.RESOLVE, ActionInput(text = "已送医"))
            app.setMember(Seed.gridLead)
            app.perform(id, Action.FOLLOW_UP, ActionInput(satisfaction = 5, visitedAt = System.currentTimeMillis(), text = "家属满意"))

            app.setMember(Seed.rider)
            d = app.caseScreen(id).awaitFirst { it.case.status == Status.CLOSED }
            assertEquals(Acknowledgement.HANDLED, d.acknowledgement)
            assertEquals("status_closed", d.statusKey)
            assertEquals(5, d.timeline.last().satisfaction)
            assertEquals("家属满意", d.timeline.last().text)
            assertEquals(0, d.conflicts)
            assertTrue(d.timeline.none { it.conflict != null })

            // A withdrawn report says so.
            val other = app.report(ReportDraft(note = "井盖松动").toNewCase(Seed.GRID, "facility"))
            app.perform(other, Action.CANCEL, ActionInput(text = "看错了"))
            assertEquals(Acknowledgement.WITHDRAWN, app.caseScreen(other).awaitFirst { true }.acknowledgement)
        }
    }

    @Test
    fun `overdue badges agree with core's overdue list, and a responder sees only its unit's cases`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.gridLead)
            val soon = app.report(ReportDraft(Category.WASTE, note = "垃圾堆放").toNewCase(Seed.GRID, "waste"))
            val later = app.report(ReportDraft(Category.ILLEGAL_PARKING, note = "占用消防通道").toNewCase(Seed.GRID, "parking"))
            val otherUnit = app.report(ReportDraft(Category.NOISE, note = "夜间施工").toNewCase(Seed.GRID, "noise"))
            val now = System.currentTimeMillis()
            app.perform(soon, Action.DISPATCH, ActionInput(unitId = unit, deadline = now + 1_200))
            app.perform(later, Action.DISPATCH, ActionInput(unitId = unit, deadline = now + 3_600_000))
            app.perform(otherUnit, Action.DISPATCH, ActionInput(unitId = "chengguan", deadline = now + 3_600_000))
            Thread.sleep(1_500)

            val coreOverdue = app.overdue().awaitFirst { true }.map { it.id }
            assertEquals(listOf(soon), coreOverdue)
            val rows = app.caseRows(HomeList.OPEN_CASES).awaitFirst { it.size == 3 }
            assertEquals(coreOverdue, rows.filter { it.overdue }.map { it.summary.id })
            assertTrue(app.caseScreen(soon).awaitFirst { true }.overdue)
            assertFalse(app.caseScreen(later).awaitFirst { true }.overdue)

            // Resolved: no longer overdue, in core or on screen.
            app.perform(soon, Action.RESOLVE, ActionInput(text = "已清运"))
            assertFalse(app.caseScreen(soon).awaitFirst { true }.overdue)
            val resolved = app.search("垃圾").single()
            val resolvedRow = CaseRow.of(resolved, app.actions(resolved.id), System.currentTimeMillis())
            assertFalse(resolvedRow.overdue)
            assertFalse(resolvedRow.open)
            assertEquals(emptyList<String>(), app.overdue().awaitFirst { true }.map { it.id })

            app.setMember(responder)
            val theirs = app.caseRows(HomeList.UNIT_QUEUE).awaitFirst { true }
            assertEquals(listOf(later), theirs.map { it.summary.id })
            assertEquals(emptyList<Action>(), theirs.single().quickActions)
        }
    }

    @Test
    fun `an event that arrived by sync after the case moved on is marked as a conflict`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.gridLead)
            val id = app.report(ReportDraft(Category.FIRE_HAZARD, note = "楼道堆物").toNewCase(Seed.GRID, "fire"))
            app.perform(id, Action.RESOLVE, ActionInput(text = "已清理"))
            val real = app.case(id)

            // What core reports when a dispatch made offline elsewhere lands after the resolve.
            val late = TimelineEntry("e-late", "lead-qian", Role.GRID_LEAD, real.createdAt + 5, EventKind.Dispatched(unit, real.createdAt + 99), "dispatched does not apply to a resolved case")
            val merged = real.copy(timeline = real.timeline + late, conflicts = 1)
            val d = CaseDetail.of(merged, Seed.gridLead, app.actions(id))
            assertEquals(1, d.conflicts)
            assertEquals(listOf(null, null, "dispatched does not apply to a resolved case"), d.timeline.map { it.conflict })
            assertEquals("status_resolved", d.statusKey)
            assertFalse(d.timeline.last().mine)
            assertTrue(d.timeline[1].mine)

            val found = app.search("楼道").single()
            val row = CaseRow.of(found.copy(conflicts = 1), app.actions(found.id), System.currentTimeMillis())
            assertTrue(row.conflict)
        }
    }

    @Test
    fun `the report form picks an urgency by category and a title from the note`() {
        val draft = ReportDraft().withCategory(Category.GAS_HAZARD)
        assertEquals(Urgency.URGENT, draft.urgency)
        assertEquals(Urgency.LIFE_SAFETY, ReportDraft(Category.PERSON_IN_DISTRESS).urgency)
        assertEquals(Urgency.NORMAL, draft.withCategory(Category.NOISE).urgency)

        val c = draft.copy(note = "  厨房改燃气灶\n住户私拉煤气管  ", photos = listOf(Seed.photoFile("k"))).toNewCase(Seed.GRID, "燃气隐患")
        assertEquals("厨房改燃气灶", c.title)
        // The photos are files and travel beside the case (Outpost.report), not as hashes.
        assertEquals(emptyList<String>(), c.attachments)
        assertEquals("厨房改燃气灶\n住户私拉煤气管", c.description)
        assertEquals("燃气隐患", draft.toNewCase(Seed.GRID, "燃气隐患").title)
        assertEquals(ReportDraft.TITLE_CHARS, draft.copy(note = "长".repeat(500)).toNewCase(Seed.GRID, "x").title.length)
    }
}
