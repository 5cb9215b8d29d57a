package app.outpost

import app.outpost.ffi.CaseEdit
import app.outpost.ffi.Category
import app.outpost.ffi.EventKind
import app.outpost.ffi.Member
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Role
import app.outpost.ffi.Site
import app.outpost.ffi.Status
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/**
 * The buttons never lie: for every role and every case state, each action [Rules] offers
 * is taken by core through the bindings, and each action it withholds is refused by core
 * with the kind of refusal [Rules.denial] predicts, leaving the case as it was.
 */
class ActionSweepTest {
    @TempDir
    lateinit var dir: Path

    private object People {
        const val UNIT = "juweihui-yinhang"
        val rider = Seed.rider
        val otherRider = Member("rider-9", "赵师傅", Role.COURIER, listOf(Seed.GRID))
        val member = Seed.gridMember
        val outsideMember = Member("gm-wu", "吴网格员", Role.GRID_MEMBER, listOf(Seed.OTHER_GRID))
        val lead = Seed.gridLead
        val outsideLead = Member("lead-qian", "钱站长", Role.GRID_LEAD, listOf(Seed.OTHER_GRID))
        val responder = Member("resp-1", "居委会刘主任", Role.RESPONDER, emptyList(), UNIT)
        val otherResponder = Member("resp-2", "城管队员", Role.RESPONDER, emptyList(), "chengguan-yinhang")
        val admin = Member("admin-1", "管理员", Role.ADMIN, emptyList())
        val everyone = listOf(rider, otherRider, member, outsideMember, lead, outsideLead, responder, otherResponder, admin)
    }

    private val day = 86_400_000L

    /** How the lead brings a new case (reported by the rider) into each state. */
    private fun pathTo(status: Status): List<EventKind> {
        val dispatch = EventKind.Dispatched(People.UNIT, System.currentTimeMillis() + day)
        val resolved = EventKind.Resolved("已处理")
        return when (status) {
            Status.NEW -> emptyList()
            Status.ACCEPTED -> listOf(EventKind.Accepted)
            Status.DISPATCHED -> listOf(dispatch)
            Status.IN_PROGRESS -> listOf(dispatch, EventKind.Progress("在路上"))
            Status.RESOLVED -> listOf(dispatch, resolved)
            Status.CLOSED -> listOf(dispatch, resolved, EventKind.FollowUp(System.currentTimeMillis(), 5, "满意"))
            Status.REOPENED -> listOf(dispatch, resolved, EventKind.Reopened("又堵上了"))
            Status.CANCELLED -> listOf(EventKind.Cancelled("误报"))
        }
    }

    /** Valid input for every action, so that a refusal is about who and when, never about input. */
    private fun input() = ActionInput(
        text = "现场情况说明",
        unitId = People.UNIT,
        deadline = System.currentTimeMillis() + 2 * day,
        satisfaction = 4,
        visitedAt = System.currentTimeMillis(),
        photo = Seed.photoFile("sweep"),
        edit = CaseEdit(description = "补充说明：三楼"),
    )

    private suspend fun Outpost.caseIn(status: Status): String {
        setMember(People.rider)
        val id = report(ReportDraft().withCategory(Category.FIRE_HAZARD).copy(note = "消防通道被堵")
            .toNewCase(Seed.GRID, "fire"))
        setMember(People.lead)
        pathTo(status).forEach { record(id, it) }
        assertEquals(status, case(id).status)
        return id
    }

    @Test
    fun `every offered action is taken by core and every withheld one refused`() = runBlocking {
        var offered = 0
        var withheld = 0
        val seenOffered = mutableSetOf<CaseAction>()
        val seenWithheld = mutableSetOf<CaseAction>()
        Outpost.open(dbIn(dir)).use { app ->
            for (status in Status.entries) {
                for (who in People.everyone) {
                    val probe = app.caseIn(status)
                    app.setMember(who)
                    val facts = app.case(probe).facts
                    val actions = Rules.actions(who, facts)

                    for (action in CaseAction.entries - actions.toSet()) {
                        val why = Rules.denial(who, facts, action)
                        val before = app.case(probe)
                        val refused = runCatching { app.perform(probe, action, input()) }.exceptionOrNull()
                        val expected = if (why == Denial.STATE) OutpostException.WrongState::class else OutpostException.Forbidden::class
                        if (refused == null || refused::class != expected) {
                            fail<Unit>("${who.role}/${who.id} on a $status case: $action withheld ($why) but core said ${refused ?: "yes"}")
                        }
                        assertEquals(before, app.case(probe), "a refused $action changed the case")
                        withheld++
                        seenWithheld += action
                    }

                    for ((i, action) in actions.withIndex()) {
                        val id = if (i == 0) probe else app.caseIn(status).also { app.setMember(who) }
                        try {
                            app.perform(id, action, input())
                        } catch (e: OutpostException) {
                            fail<Unit>("${who.role}/${who.id} on a $status case: $action offered but core refused: ${e.message}")
                        }
                        offered++
                        seenOffered += action
                    }
                }
            }
        }
        // The sweep is not vacuous: every action is both offered and withheld somewhere.
        assertEquals(CaseAction.entries.toSet(), seenOffered)
        assertEquals(CaseAction.entries.toSet(), seenWithheld)
        assertTrue(offered > 100 && withheld > 300, "offered $offered, withheld $withheld")
    }

    @Test
    fun `each role gets the buttons the street expects`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            suspend fun buttons(who: Member, status: Status): Set<CaseAction> {
                val id = app.caseIn(status)
                app.setMember(who)
                return app.caseScreen(id).awaitFirst { true }.actions.toSet()
            }
            val talk = setOf(CaseAction.COMMENT, CaseAction.ADD_PHOTO)

            // The rider may withdraw or correct a fresh report, and always talk on it.
            assertEquals(talk + CaseAction.CANCEL + CaseAction.EDIT, buttons(People.rider, Status.NEW))
            assertEquals(talk, buttons(People.rider, Status.DISPATCHED))
            assertEquals(emptySet<CaseAction>(), buttons(People.otherRider, Status.NEW))

            // The grid member works the case but does not take or send it.
            assertEquals(talk + CaseAction.PROGRESS + CaseAction.RESOLVE + CaseAction.EDIT, buttons(People.member, Status.ACCEPTED))
            assertEquals(talk + CaseAction.RESOLVE + CaseAction.EDIT, buttons(People.member, Status.NEW))
            assertEquals(emptySet<CaseAction>(), buttons(People.outsideMember, Status.ACCEPTED))

            // The lead accepts, dispatches, follows up, reopens, cancels.
            assertEquals(
                talk + setOf(CaseAction.ACCEPT, CaseAction.DISPATCH, CaseAction.RESOLVE, CaseAction.CANCEL, CaseAction.EDIT),
                buttons(People.lead, Status.NEW),
            )
            assertEquals(talk + CaseAction.FOLLOW_UP + CaseAction.REOPEN + CaseAction.EDIT, buttons(People.lead, Status.RESOLVED))
            assertEquals(talk + CaseAction.REOPEN + CaseAction.EDIT, buttons(People.lead, Status.CLOSED))

            // A responder acts only on open cases dispatched to its own unit.
            assertEquals(talk + CaseAction.PROGRESS + CaseAction.RESOLVE, buttons(People.responder, Status.DISPATCHED))
            assertEquals(emptySet<CaseAction>(), buttons(People.responder, Status.RESOLVED))
            assertEquals(emptySet<CaseAction>(), buttons(People.responder, Status.ACCEPTED))
            assertEquals(emptySet<CaseAction>(), buttons(People.otherResponder, Status.DISPATCHED))
        }
    }

    @Test
    fun `the home screen offers flagging, reporting and walkthroughs only where core takes them`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            val template = app.templates().first().id
            for (who in People.everyone) {
                app.setMember(who)
                val home = app.home()
                assertEquals(who, home.member)

                val grid = home.grid
                if (grid == null) {
                    assertFalse(home.canFlag, "${who.id} has no grid to flag in")
                } else {
                    val flagged = runCatching { app.flagPersonInDistress(grid) }
                    assertEquals(home.canFlag, flagged.isSuccess, "${who.id}: flag offered=${home.canFlag}, core: $flagged")
                }

                // A tab is there exactly when core takes what it is for, in the member's grid.
                val own = grid ?: Seed.GRID
                val reportedHere = runCatching { app.report(ReportDraft(note = "路灯坏了").toNewCase(own, "灯")) }
                assertEquals(Tab.MY_REPORTS in home.tabs, reportedHere.isSuccess, "${who.id}: my reports")
                assertEquals(home.canReport, grid != null && reportedHere.isSuccess, "${who.id}: report form")
                val walkedHere = runCatching { app.startInspection(template, Site(name = "3号楼", gridId = own)) }
                assertEquals(Tab.WALKTHROUGHS in home.tabs, walkedHere.isSuccess, "${who.id}: walkthroughs")
                assertEquals(home.canInspect, grid != null && walkedHere.isSuccess, "${who.id}: start a walkthrough")

                for (g in listOf(Seed.GRID, Seed.OTHER_GRID)) {
                    val reported = runCatching { app.report(ReportDraft(note = "路灯坏了").toNewCase(g, "灯")) }
                    assertEquals(Rules.canReport(who, g), reported.isSuccess, "${who.id} reporting in $g")
                    if (reported.isFailure) assertTrue(reported.exceptionOrNull() is OutpostException.Forbidden)

                    val started = runCatching { app.startInspection(template, Site(name = "3号楼", gridId = g)) }
                    assertEquals(Rules.canInspect(who, g), started.isSuccess, "${who.id} inspecting in $g")
                    if (started.isFailure) assertTrue(started.exceptionOrNull() is OutpostException.Forbidden)
                }
            }
            val rider = Home.of(People.rider)
            assertEquals(listOf(Tab.HOME, Tab.MY_REPORTS), rider.tabs)
            assertTrue(rider.canFlag)
            assertEquals(listOf(Tab.QUEUE), Home.of(People.responder).tabs)
            assertEquals(false, Home.of(People.responder).canFlag)
            assertEquals(Home(null, null, false, false, false, emptyList()), Home.of(null))
        }
    }
}
