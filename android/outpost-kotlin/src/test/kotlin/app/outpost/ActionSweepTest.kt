package app.outpost

import app.outpost.ffi.Action
import app.outpost.ffi.ActionOffer
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.Category
import app.outpost.ffi.EventKind
import app.outpost.ffi.HomeList
import app.outpost.ffi.Member
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Role
import app.outpost.ffi.Site
import app.outpost.ffi.Status
import app.outpost.ffi.Withheld
import app.outpost.ffi.homeLists
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/**
 * A role's screen offers exactly core's actions: for every role and every case state, the
 * case screen lists the actions `Cases.actions` allows, in core's order, and carries the
 * withheld ones with core's reasons; each offered action performed through the facade is
 * taken, each withheld one is refused with the very reason core gave, leaving the case as
 * it was. No rule in Kotlin is compared against: the screen's buttons are held to what
 * core then does.
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
        gridId = Seed.OTHER_GRID,
    )

    private suspend fun Outpost.caseIn(status: Status): String {
        setMember(People.rider)
        val id = report(ReportDraft().withCategory(Category.FIRE_HAZARD).copy(note = "消防通道被堵").toNewCase(Seed.GRID, "fire"))
        setMember(People.lead)
        pathTo(status).forEach { record(id, it) }
        assertEquals(status, case(id).status)
        return id
    }

    /** The refusal core's bindings raise for a withheld action of this kind. */
    private fun refusalFor(withheld: Withheld?) = when (withheld) {
        Withheld.STATE -> OutpostException.WrongState::class
        Withheld.NO_MEMBER -> OutpostException.NoMember::class
        Withheld.ROLE, Withheld.OUT_OF_SCOPE -> OutpostException.Forbidden::class
        null -> fail("an offer without a reason is not withheld")
    }

    /** The sentence a refusal carries (a flat error: its message). */
    private fun reasonOf(e: Throwable): String? = (e as? OutpostException)?.message

    @Test
    fun `a role's screen offers exactly core's actions, and core does what the screen says`() = runBlocking {
        var offered = 0
        var withheld = 0
        val seenOffered = mutableSetOf<Action>()
        val seenWithheld = mutableSetOf<Withheld>()
        Outpost.open(dbIn(dir)).use { app ->
            for (status in Status.entries) {
                for (who in People.everyone) {
                    val probe = app.caseIn(status)
                    app.setMember(who)
                    val offers = app.actions(probe)
                    val screen = app.caseScreen(probe).awaitFirst { it.case.id == probe }
                    val where = "${who.role}/${who.id} on a $status case"

                    // Every action once, in core's button order; the screen shows exactly the allowed ones.
                    assertEquals(Action.entries.toList(), offers.map { it.action }, where)
                    assertEquals(offers.filter { it.allowed }.map { it.action }, screen.actions, where)
                    assertEquals(offers.filter { !it.allowed }, screen.withheld, where)
                    for (o in offers) {
                        assertEquals(o.allowed, o.withheld == null && o.reason == null, "$where: $o")
                    }

                    for (offer: ActionOffer in screen.withheld) {
                        val before = app.case(probe)
                        val refused = runCatching { app.perform(probe, offer.action, input()) }.exceptionOrNull()
                            ?: fail("$where: ${offer.action} withheld (${offer.reason}) but core took it")
                        assertEquals(refusalFor(offer.withheld), refused::class, "$where: ${offer.action}: $refused")
                        assertEquals(offer.reason, reasonOf(refused), "$where: ${offer.action}")
                        assertEquals(before, app.case(probe), "$where: a refused ${offer.action} changed the case")
                        withheld++
                        seenWithheld += offer.withheld!!
                    }

                    for ((i, action) in screen.actions.withIndex()) {
                        val id = if (i == 0) probe else app.caseIn(status).also { app.setMember(who) }
                        try {
                            app.perform(id, action, input())
                        } catch (e: OutpostException) {
                            fail<Unit>("$where: $action offered but core refused: ${e.message}")
                        }
                        offered++
                        seenOffered += action
                    }
                }
            }
        }
        // The sweep is not vacuous: every action is offered somewhere, and each kind of
        // refusal a member can meet is met.
        assertEquals(Action.entries.toSet(), seenOffered)
        assertEquals(setOf(Withheld.OUT_OF_SCOPE, Withheld.ROLE, Withheld.STATE), seenWithheld)
        assertTrue(offered > 100 && withheld > 300, "offered $offered, withheld $withheld")
    }

    @Test
    fun `each role gets the buttons the street expects`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            suspend fun buttons(who: Member, status: Status): Set<Action> {
                val id = app.caseIn(status)
                app.setMember(who)
                return app.caseScreen(id).awaitFirst { true }.actions.toSet()
            }
            val talk = setOf(Action.COMMENT, Action.ADD_PHOTO)

            // The rider may withdraw or correct a fresh report, and always talk on it.
            assertEquals(talk + Action.CANCEL + Action.EDIT, buttons(People.rider, Status.NEW))
            assertEquals(talk, buttons(People.rider, Status.DISPATCHED))
            assertEquals(emptySet<Action>(), buttons(People.otherRider, Status.NEW))

            // The grid member works the case but does not take or send it.
            assertEquals(talk + Action.PROGRESS + Action.RESOLVE + Action.EDIT, buttons(People.member, Status.ACCEPTED))
            assertEquals(emptySet<Action>(), buttons(People.outsideMember, Status.ACCEPTED))

            // The lead accepts, dispatches, follows up, reopens, cancels; only an administrator moves a case.
            val leadNew = buttons(People.lead, Status.NEW)
            assertTrue(setOf(Action.ACCEPT, Action.DISPATCH, Action.CANCEL).all { it in leadNew }, "$leadNew")
            assertFalse(Action.MOVE in leadNew)
            assertTrue(Action.MOVE in buttons(People.admin, Status.NEW))
            assertTrue(Action.FOLLOW_UP in buttons(People.lead, Status.RESOLVED))

            // A responder acts only on open cases dispatched to its own unit.
            assertEquals(talk + Action.PROGRESS + Action.RESOLVE, buttons(People.responder, Status.DISPATCHED))
            assertEquals(emptySet<Action>(), buttons(People.responder, Status.RESOLVED))
            assertEquals(emptySet<Action>(), buttons(People.otherResponder, Status.DISPATCHED))

            // A withheld button carries core's sentence for the screen to explain it.
            val id = app.caseIn(Status.NEW)
            app.setMember(People.rider)
            val accept = app.caseScreen(id).awaitFirst { true }.withheld.single { it.action == Action.ACCEPT }
            assertEquals(Withheld.ROLE, accept.withheld)
            assertTrue(accept.reason!!.isNotBlank())
        }
    }

    @Test
    fun `the responder's queue is core's unit queue, its rows carry core's offers`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            val mine = app.caseIn(Status.DISPATCHED)
            val resolved = app.caseIn(Status.RESOLVED)
            val waiting = app.caseIn(Status.NEW)
            app.record(app.caseIn(Status.NEW), EventKind.Dispatched("chengguan-yinhang", System.currentTimeMillis() + day))

            app.setMember(People.responder)
            assertEquals(listOf(HomeList.UNIT_QUEUE), app.home().lists)
            val rows = app.caseRows(HomeList.UNIT_QUEUE).awaitFirst { true }
            assertEquals(listOf(mine), rows.map { it.summary.id })
            assertEquals(app.unitQueue().awaitFirst { true }.map { it.id }, rows.map { it.summary.id })
            assertTrue(rows.single().open)
            assertEquals(emptyList<Action>(), rows.single().quickActions, "a responder neither accepts nor dispatches")

            app.setMember(People.lead)
            val open = app.caseRows(HomeList.OPEN_CASES).awaitFirst { true }
            assertFalse(resolved in open.map { it.summary.id })
            for (row in open) {
                val core = app.actions(row.summary.id).filter { it.allowed && it.action in CaseRow.QUICK }.map { it.action }
                assertEquals(core, row.quickActions, row.summary.id)
            }
            assertEquals(listOf(Action.ACCEPT, Action.DISPATCH), open.single { it.summary.id == waiting }.quickActions)
        }
    }

    @Test
    fun `the home screen offers flagging, reporting and walkthroughs only where core takes them`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            assertEquals(Home.EMPTY, app.home())
            val template = app.templates().first().id
            for (who in People.everyone) {
                app.setMember(who)
                val home = app.home()
                assertEquals(who, home.member)
                assertEquals(homeLists(who.role), home.lists)
                assertEquals(home.lists.map(Tab::of), home.tabs - Tab.HOME)

                val grid = home.grid
                if (grid == null) {
                    assertFalse(home.canFlag || home.canReport || home.canInspect, "${who.id} has no grid to work in")
                    continue
                }
                val flagged = runCatching { app.flagPersonInDistress(grid) }
                assertEquals(home.canFlag, flagged.isSuccess, "${who.id}: flag offered=${home.canFlag}, core: $flagged")
                val reported = runCatching { app.report(ReportDraft(note = "路灯坏了").toNewCase(grid, "灯")) }
                assertEquals(home.canReport, reported.isSuccess, "${who.id}: report form")
                if (!home.canReport) {
                    val refused = reported.exceptionOrNull() as? OutpostException.Forbidden ?: fail("${who.id}: $reported")
                    assertEquals(home.reportWithheld?.reason, refused.message)
                } else {
                    assertNull(home.reportWithheld)
                }
                val started = runCatching { app.startInspection(template, Site(name = "3号楼", gridId = grid)) }
                assertEquals(home.canInspect, started.isSuccess, "${who.id}: start a walkthrough")
                if (!home.canInspect) {
                    val refused = started.exceptionOrNull() as? OutpostException.Forbidden ?: fail("${who.id}: $started")
                    assertEquals(home.inspectWithheld?.reason, refused.message)
                }
                assertEquals(home.canFlag || home.canReport || home.canInspect, Tab.HOME in home.tabs)

                // Outside the member's grid, core's answer and core's verdict agree too.
                val outside = app.reportWithheld(Seed.OTHER_GRID)
                val there = runCatching { app.report(ReportDraft(note = "路灯坏了").toNewCase(Seed.OTHER_GRID, "灯")) }
                assertEquals(outside == null, there.isSuccess, "${who.id} reporting in ${Seed.OTHER_GRID}")
                val walkOutside = app.inspectWithheld(Seed.OTHER_GRID)
                val walked = runCatching { app.startInspection(template, Site(name = "3号楼", gridId = Seed.OTHER_GRID)) }
                assertEquals(walkOutside == null, walked.isSuccess, "${who.id} inspecting in ${Seed.OTHER_GRID}")
            }
            app.setMember(People.rider)
            assertNotNull(app.inspectWithheld(Seed.GRID), "a rider walks no checklists")
            assertTrue(app.home().canFlag)
        }
    }
}
