package app.outpost.screens.desktop

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performTextReplacement
import app.outpost.ActionInput
import app.outpost.ffi.Action
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Urgency
import app.outpost.ffi.Status
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * Core's refusals reach the person as text on the screen they are on, and the app goes on:
 * a server that does not answer and a wrong invite code at enrollment; a dispatch the lead
 * confirms after the rider withdrew the report on another phone.
 */
@OptIn(ExperimentalTestApi::class)
class ErrorsStory {
    @Test
    fun `errors from core are shown as text, not crashes`() {
        val story = Story("errors")
        story.run {
            with(story) {
                val rider = phone("rider-chen")
                hold(rider)
                await(tx("enroll_title"))

                // Nothing listens on port 9: a Network error, in words.
                onNodeWithText(tx("enroll_server")).performTextReplacement("http://127.0.0.1:9")
                onNodeWithText(tx("enroll_code")).performTextReplacement(Server.invite("rider-chen"))
                tap(tx("enroll_submit"))
                val network = runBlocking { runCatching { rider.outpost.enroll("http://127.0.0.1:9", "x", "probe") }.exceptionOrNull() }
                assertTrue("$network", network is OutpostException.Network)
                await(network!!.message!!.take(40))
                shot("enroll-unreachable")

                onNodeWithText("http://127.0.0.1:9").performTextReplacement(Server.url)
                onNodeWithText(Server.invite("rider-chen")).performTextReplacement("WRONG-CODE")
                tap(tx("enroll_submit"))
                val wrong = runBlocking { runCatching { rider.outpost.enroll(Server.url, "WRONG-CODE", "probe") }.exceptionOrNull() }
                assertTrue("$wrong", wrong is OutpostException)
                await(wrong!!.message!!.take(40))
                shot("enroll-wrong-code")

                onNodeWithText("WRONG-CODE").performTextReplacement(Server.invite("rider-chen"))
                tap(tx("enroll_submit"))
                await(tx("distress_button"))
                tap(tx("distress_button"))
                await(tx("distress_saved"))
                runBlocking { rider.runRequestedSync() }
                val caseId = runBlocking { rider.outpost.myReports().first { it.isNotEmpty() } }.single().id

                val lead = phone("lead-wu")
                hold(lead)
                enroll(this@run, "lead-wu", tx("tab_open_cases"))
                runBlocking { lead.runRequestedSync() }
                tab("tab_open_cases")
                tap(tx("action_dispatch"))
                await(Server.FIRE_UNIT_NAME)

                tap(Server.FIRE_UNIT_NAME)
                shot("dispatch-dialog-open")

                // Meanwhile the rider withdraws the flag on the other phone, and the lead's phone hears of it.
                runBlocking {
                    rider.session.perform(caseId, Action.CANCEL, ActionInput(text = "误报，老人已自行离开"), Urgency.LIFE_SAFETY).getOrThrow()
                    rider.runRequestedSync()
                    lead.outpost.syncNow()
                }
                assertEquals(Status.CANCELLED, runBlocking { lead.outpost.case(caseId) }.status)
                awaitGone(tx("status_new"))

                tap(tx("confirm"))
                val refused = runBlocking {
                    runCatching { lead.outpost.record(caseId, app.outpost.ffi.EventKind.Dispatched(Server.FIRE_UNIT, System.currentTimeMillis() + 86_400_000)) }.exceptionOrNull()
                }
                assertTrue("$refused", refused is OutpostException.WrongState)
                await(refused!!.message!!.take(40))
                shot("dispatch-refused")
                assertEquals(Status.CANCELLED, runBlocking { lead.outpost.case(caseId) }.status)
            }
        }
    }
}
