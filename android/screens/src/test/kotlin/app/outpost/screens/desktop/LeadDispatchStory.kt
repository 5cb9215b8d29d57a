package app.outpost.screens.desktop

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performTextReplacement
import app.outpost.ffi.HomeList
import app.outpost.ffi.Status
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * A rider's flag reaches the grid lead through the server; the lead accepts and dispatches
 * it to the fire station from the queue; the fire station's responder sees exactly that case
 * (the city-management responder sees none), resolves it, and the lead records the
 * follow-up visit. The rider's screen says someone is coming.
 */
@OptIn(ExperimentalTestApi::class)
class LeadDispatchStory {
    @Test
    fun `a lead accepts and dispatches, and only that unit's responder sees the case`() {
        val story = Story("lead-dispatch")
        story.run {
            with(story) {
                val rider = phone("rider-sun")
                hold(rider)
                enroll(this@run, "rider-sun", tx("distress_button"))
                tap(tx("distress_button"))
                await(tx("distress_saved"))
                runBlocking { rider.runRequestedSync() }
                val caseId = runBlocking { rider.outpost.myReports().first { it.isNotEmpty() } }.single().id

                val lead = phone("lead-zhang")
                hold(lead)
                enroll(this@run, "lead-zhang", tx("tab_open_cases"))
                runBlocking { lead.runRequestedSync() }
                tab("tab_open_cases")
                await(tx("action_dispatch"))
                shot("lead-queue")

                tap(tx("action_accept"))
                await(tx("confirm"))
                shot("accept-dialog")
                tap(tx("confirm"))
                await(tx("status_accepted"))
                shot("lead-queue-accepted")
                assertEquals(Status.ACCEPTED, runBlocking { lead.outpost.case(caseId) }.status)

                tap(tx("action_dispatch"))
                await(Server.FIRE_UNIT_NAME)
                tap(Server.FIRE_UNIT_NAME)
                tap(tx("days", 7))
                shot("dispatch-dialog")
                tap(tx("confirm"))
                await(tx("status_dispatched"))
                val dispatched = runBlocking { lead.outpost.case(caseId) }
                assertEquals(Status.DISPATCHED, dispatched.status)
                assertEquals(Server.FIRE_UNIT, dispatched.assignedUnit)
                assertTrue(dispatched.deadline!! > System.currentTimeMillis() + 6 * 24 * 3600_000L)
                tap(dispatched.title)
                await(tx("assigned_unit", Server.FIRE_UNIT))
                shot("lead-case-dispatched")
                runBlocking { lead.runRequestedSync() }

                // The rider hears that someone is coming.
                hold(rider)
                runBlocking { rider.outpost.syncNow() }
                tab("tab_my_reports")
                tap(dispatched.title)
                await(tx("ack_coming"))
                shot("rider-someone-coming")

                // The fire station's responder sees exactly this case; city management sees none.
                val fire = phone("resp-fire")
                hold(fire)
                enroll(this@run, "resp-fire", tx("queue_empty"))
                runBlocking { fire.runRequestedSync() }
                await(dispatched.title)
                assertEquals(listOf(caseId), runBlocking { fire.session.cases(HomeList.UNIT_QUEUE).first() }.map { it.summary.id })
                shot("responder-queue")

                val city = phone("resp-city")
                hold(city)
                enroll(this@run, "resp-city", tx("queue_empty"))
                runBlocking { city.runRequestedSync() }
                await(tx("queue_empty"))
                assertEquals(emptyList<String>(), runBlocking { city.session.cases(HomeList.UNIT_QUEUE).first() }.map { it.summary.id })
                shot("other-unit-queue")

                // The responder resolves it; the lead records the follow-up visit.
                hold(fire)
                tap(dispatched.title)
                await(tx("action_resolve"))
                shot("responder-case")
                tap(tx("action_resolve"))
                onNodeWithText(tx("form_note")).performTextReplacement("已送医，家属已联系")
                tap(tx("confirm"))
                await(tx("status_resolved"))
                runBlocking { fire.runRequestedSync() }

                hold(lead)
                runBlocking { lead.outpost.syncNow() }
                await(tx("status_resolved"))
                tap(tx("action_follow_up"))
                tap("4")
                onNodeWithText(tx("form_note")).performTextReplacement("回访：老人已出院")
                shot("follow-up-dialog")
                tap(tx("confirm"))
                await("回访：老人已出院")
                shot("lead-case-followed-up")
            }
        }
    }
}
