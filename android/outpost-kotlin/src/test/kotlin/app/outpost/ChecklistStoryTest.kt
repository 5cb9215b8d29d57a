package app.outpost

import app.outpost.ffi.EventKind
import app.outpost.ffi.Severity
import app.outpost.ffi.AnswerKind
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.Category
import app.outpost.ffi.ChecklistItem
import app.outpost.ffi.Inspection
import app.outpost.ffi.InspectionStatus
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Site
import app.outpost.ffi.Status
import app.outpost.ffi.Urgency
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertThrows
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

private const val DAY_MS = 24L * 60 * 60 * 1000

/**
 * A grid member walks building 3 with the residential fire-safety checklist: the fire lane
 * is blocked, someone charges an e-bike from a flying wire, one extinguisher is missing.
 * Submitting raises three hazard cases with rectification deadlines; the re-inspection a
 * few days later finds everything fixed and resolves them.
 */
class ChecklistStoryTest {
    @TempDir
    lateinit var dir: Path

    private val failing = setOf("fire_lane_clear", "flying_wire_charging", "extinguisher_count")

    /** The answer a member gives on the walk: hazards where [failing] says so. */
    private fun answerFor(item: ChecklistItem, fail: Boolean): AnswerValue = when (item.answer) {
        AnswerKind.PASS_FAIL -> if (fail) AnswerValue.Fail else AnswerValue.Pass
        AnswerKind.YES_NO -> if ((item.failsWhen == true) == fail) AnswerValue.Yes else AnswerValue.No
        AnswerKind.NUMBER -> AnswerValue.Number(if (fail) 1.0 else 4.0)
        AnswerKind.TEXT -> AnswerValue.Text("楼道堆放纸箱已清理")
        AnswerKind.PHOTO -> AnswerValue.Photo
    }

    private suspend fun walk(app: Outpost, inspectionId: String, items: List<ChecklistItem>, failIds: Set<String>) {
        for (item in items) {
            val fail = item.id in failIds
            val photos = if (fail || item.photoRequired || item.answer == AnswerKind.PHOTO) {
                listOf(Seed.photoFile("${item.id}-$inspectionId"))
            } else {
                emptyList()
            }
            app.answer(inspectionId, item.id, answerFor(item, fail), note = if (fail) "现场发现" else "", photos = photos)
        }
    }

    @Test
    fun `a walkthrough raises hazard cases and the re-inspection resolves them`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.gridMember)

            val template = app.templates().single { it.id == "residential-fire-safety" }
            assertTrue(template.sections.isNotEmpty())
            val items = template.sections.flatMap { it.items }
            assertTrue(failing.all { id -> items.any { it.id == id } })

            val site = Site(name = "殷行路650弄3号楼", gridId = Seed.GRID, address = "殷行路650弄3号", location = Seed.lane650)
            val first = app.startInspection(template.id, site)

            // The checklist screen follows the walk item by item.
            val screen = Channel<Inspection>(Channel.UNLIMITED)
            val watcher = launch(Dispatchers.Default) { app.inspectionDetail(first).collect { screen.send(it) } }
            val fresh = withTimeout(10_000) { screen.receive() }
            assertEquals(items.map { it.id }, fresh.unanswered)
            assertEquals(InspectionStatus.IN_PROGRESS, fresh.status)
            assertEquals(listOf("gm-li"), fresh.inspectors)

            walk(app, first, items.take(1), failing)
            val afterOne = withTimeout(10_000) { screen.receive() }
            assertEquals(items.drop(1).map { it.id }, afterOne.unanswered)

            // Submitting early is refused with the first missing item named.
            val early = assertThrows(OutpostException.Invalid::class.java) { runBlocking { app.submit(first) } }
            assertTrue(early.message!!.contains("have no answer yet"), early.message)

            walk(app, first, items.drop(1), failing)
            val answered = withTimeout(10_000) {
                var i = screen.receive()
                while (i.unanswered.isNotEmpty()) i = screen.receive()
                i
            }
            assertEquals(failing, answered.failed.toSet())
            watcher.cancel()

            val row = app.inspections(InspectionStatus.IN_PROGRESS).awaitFirst { it.isNotEmpty() }.single()
            assertEquals(items.size.toLong(), row.answered)
            assertEquals(row.total, row.answered)
            assertEquals(3L, row.failed)

            val hazards = app.submit(first)
            assertEquals(3, hazards.size)
            val submitted = app.inspection(first)
            assertEquals(InspectionStatus.SUBMITTED, submitted.status)
            val submittedAt = submitted.submittedAt!!
            assertEquals(failing, submitted.hazards.map { it.itemId }.toSet())

            for (caseId in hazards) {
                val case = app.case(caseId)
                val item = items.single { it.id == case.source!!.itemId }
                assertEquals(first, case.source!!.inspectionId)
                assertEquals(Category.FIRE_HAZARD, case.category)
                assertEquals(Status.NEW, case.status)
                assertEquals(Seed.GRID, case.gridId)
                val days = when (item.severity) {
                    Severity.CRITICAL -> template.rectificationDays.critical
                    Severity.MAJOR -> template.rectificationDays.major
                    Severity.MINOR -> template.rectificationDays.minor
                }
                assertEquals(submittedAt + days * DAY_MS, case.deadline)
                assertEquals(if (item.severity == Severity.CRITICAL) Urgency.URGENT else Urgency.NORMAL, case.urgency)
                assertEquals(1, case.attachments.size)
            }

            // A submitted walkthrough takes no more answers.
            val late = assertThrows(OutpostException.WrongState::class.java) {
                runBlocking { app.answer(first, "fire_lane_clear", AnswerValue.Pass) }
            }
            assertTrue(late.message!!.contains("submitted"), late.message)

            // The re-inspection: everything fixed.
            val second = app.startInspection(template.id, site, previousId = first)
            walk(app, second, items, failIds = emptySet())
            assertEquals(emptyList<String>(), app.submit(second))
            val recheck = app.inspection(second)
            assertEquals(first, recheck.previousId)
            assertEquals(hazards.toSet(), recheck.verified.map { it.caseId }.toSet())
            for (caseId in hazards) {
                val case = app.case(caseId)
                assertEquals(Status.RESOLVED, case.status, case.title)
                assertTrue(case.timeline.last().kind is EventKind.Resolved)
            }
            assertEquals(2, app.inspections(InspectionStatus.SUBMITTED).awaitFirst { it.size == 2 }.size)
        }
    }
}
