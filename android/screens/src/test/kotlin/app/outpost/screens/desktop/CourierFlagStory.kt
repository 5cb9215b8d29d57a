package app.outpost.screens.desktop

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performTextReplacement
import app.outpost.ffi.Category
import app.outpost.ffi.Datum
import app.outpost.ffi.Location
import app.outpost.ffi.Urgency
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * A delivery rider enrolls and sees a person in distress: one tap on the home screen saves
 * the flag (with the phone's fix), a second opens it; the report form files a second case
 * with a photo; the sync screen shows the two waiting, then sent.
 */
@OptIn(ExperimentalTestApi::class)
class CourierFlagStory {
    @Test
    fun `the courier's flag is saved in one tap and opened in two`() {
        val story = Story("courier-flag")
        story.run {
            with(story) {
                val rider = phone("rider-wang")
                rider.platform.fix = Location(31.3181, 121.5125, 8.0, Datum.WGS84, null)
                hold(rider)
                await(tx("enroll_title"))
                onNodeWithText(tx("enroll_server")).performTextReplacement(Server.url)
                onNodeWithText(tx("enroll_code")).performTextReplacement(Server.invite("rider-wang"))
                shot("enroll")
                tap(tx("enroll_submit"))
                await(tx("distress_button"))
                shot("home")

                // Tap 1: the flag is saved at once.
                var taps = 0
                tap(tx("distress_button")).also { taps++ }
                await(tx("distress_saved"))
                shot("home-flagged")
                val mine = runBlocking { rider.outpost.myReports().first { it.isNotEmpty() } }
                val flag = mine.single()
                assertEquals(Category.PERSON_IN_DISTRESS, flag.category)
                assertEquals(Urgency.LIFE_SAFETY, flag.urgency)
                assertEquals(31.3181, runBlocking { rider.outpost.case(flag.id) }.location!!.lat, 1e-9)
                assertTrue("a life-safety flag asks for an expedited sync", rider.platform.syncRequests.contains(true))

                // Tap 2: the case it saved, with the reporter's acknowledgement.
                tap(tx("open_case")).also { taps++ }
                await(tx("ack_waiting"))
                assertTrue(taps <= 2)
                shot("flag-detail")

                tab("tab_my_reports")
                await(flag.title)
                shot("my-reports")

                // The report form: category, note, a photo from the camera, saved as a case.
                tab("tab_home")
                tap(tx("report_problem"))
                await(tx("report_category"))
                tap(tx("category_fire_hazard"))
                onNodeWithText(tx("report_note")).performTextReplacement("楼道里堆满纸箱\n3号楼二单元")
                tap(tx("take_photo"))
                await(tx("photo_count", 1))
                shot("report-form")
                tap(tx("report_submit"))
                await("楼道里堆满纸箱")
                await(tx("ack_waiting"))
                shot("report-detail")
                val report = runBlocking { rider.outpost.myReports().first { it.size == 2 } }.first { it.id != flag.id }
                assertEquals(Category.FIRE_HAZARD, report.category)
                assertEquals(Urgency.URGENT, report.urgency)
                assertEquals(1, runBlocking { rider.outpost.case(report.id) }.attachments.size)

                // The sync screen: two waiting, then sent by the sync the screens asked for.
                tap(tx("sync_pending") + " · 2")
                await(tx("pending_changes", 2))
                shot("sync-waiting")
                runBlocking { rider.runRequestedSync() }
                await(tx("sync_up_to_date"))
                shot("sync-done")
            }
        }
    }
}
