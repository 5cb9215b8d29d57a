package app.outpost

import app.outpost.ffi.Answer
import app.outpost.ffi.AnswerKind
import app.outpost.ffi.AnswerValue
import app.outpost.ffi.ChecklistItem
import app.outpost.ffi.Member
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Role
import app.outpost.ffi.Site
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.io.TempDir
import java.nio.file.Path

/**
 * The walkthrough screen against a real store: the answer buttons of every item of every
 * shipped template are exactly the answers core takes, the camera opens exactly when core
 * needs a photo, progress and submit follow the walk, and concurrent answers show as
 * conflicts.
 */
class WalkthroughScreenTest {
    @TempDir
    lateinit var dir: Path

    private val site = Site(name = "殷行路650弄3号楼", gridId = Seed.GRID, address = "殷行路650弄3号", location = Seed.lane650)

    /** Typed input that makes [choice] a valid value for [item]. */
    private fun typed(choice: AnswerChoice, item: ChecklistItem): String = when (choice) {
        AnswerChoice.NUMBER -> ((item.failBelow ?: 0.0) + 1.0).toString()
        AnswerChoice.TEXT -> "楼道无堆物"
        else -> ""
    }

    @Test
    fun `answer buttons and the camera are exactly what core takes, for every item of every template`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.gridMember)
            var tried = 0
            for (template in app.templates()) {
                val id = app.startInspection(template.id, site)
                val rules = app.itemRules(id).associateBy { it.itemId }
                for (item in template.sections.flatMap { it.items }) {
                    val rule = rules[item.id] ?: fail("core gave no rule for ${item.id}")
                    val offered = rule.buttons
                    for (choice in AnswerChoice.entries) {
                        val value = choice.value(typed(choice, item)) ?: fail("no value for $choice")
                        for (withPhoto in listOf(true, false)) {
                            val photos = if (withPhoto) listOf(Seed.photoFile("${item.id}-$choice")) else emptyList()
                            val taken = runCatching { app.answer(id, item.id, value, photos = photos) }
                            val expected = choice in offered && (withPhoto || !rule.needsPhoto(choice))
                            if (taken.isSuccess != expected) {
                                fail<Unit>("${template.id}/${item.id} (${item.answer}, photo required ${item.photoRequired}): " +
                                    "$choice with photo=$withPhoto offered=$expected but core: $taken")
                            }
                            if (taken.isFailure) assertTrue(taken.exceptionOrNull() is OutpostException.Invalid)
                            tried++
                        }
                    }
                }
            }
            assertTrue(tried > 100, "tried $tried")
        }
    }

    @Test
    fun `typed input becomes a value only when it is one`() {
        assertEquals(AnswerValue.Number(3.5), AnswerChoice.NUMBER.value(" 3,5 "))
        assertNull(AnswerChoice.NUMBER.value("三"))
        assertNull(AnswerChoice.NUMBER.value("NaN"))
        assertEquals(AnswerValue.Text("ok"), AnswerChoice.TEXT.value(" ok "))
        assertEquals(AnswerValue.Pass, AnswerChoice.PASS.value("ignored"))
    }

    @Test
    fun `progress, hazards and submit follow the walk, and submit is offered exactly when core takes it`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.gridMember)
            val template = app.templates().single { it.id == "residential-fire-safety" }
            val id = app.startInspection(template.id, site)
            val items = template.sections.flatMap { it.items }

            var screen = app.walkthroughScreen(id).awaitFirst { true }
            assertEquals(0, screen.answered)
            assertEquals(items.size, screen.total)
            assertEquals(items.map { it.id }, screen.items.map { it.item.id })
            assertTrue(screen.canAnswer)
            assertFalse(screen.canSubmit)
            assertEquals(items.map { it.id }, screen.missing)
            assertNull(screen.submitWithheld)
            assertEquals(0f, screen.progress)

            // A premature submit is refused by core, as the missing button says.
            val early = runCatching { app.submit(id) }.exceptionOrNull()
            assertTrue(early is OutpostException.Invalid, "$early")

            val blocked = items.first { it.answer == AnswerKind.PASS_FAIL }
            for ((n, item) in items.withIndex()) {
                val (value, photos) = if (item == blocked) AnswerValue.Fail to listOf(Seed.photoFile("blocked")) else passing(item)
                app.answer(id, item.id, value, photos = photos)
                screen = app.walkthroughScreen(id).awaitFirst { it.answered == n + 1 }
                assertEquals(n + 1 == items.size, screen.canSubmit, "after ${n + 1} of ${items.size}")
                assertEquals(items.drop(n + 1).map { it.id }, screen.missing)
            }
            assertEquals(1f, screen.progress)
            assertEquals(1, screen.hazards)
            assertEquals(listOf(blocked.id), screen.items.filter { it.hazard }.map { it.item.id })
            assertEquals(emptyList<String>(), screen.conflictItems)

            // Someone outside the grid, or a courier, gets neither answering nor submitting.
            for (other in listOf(Member("gm-wu", "吴", Role.GRID_MEMBER, listOf(Seed.OTHER_GRID)), Seed.rider)) {
                app.setMember(other)
                val theirs = app.walkthroughScreen(id).awaitFirst { true }
                assertFalse(theirs.canAnswer || theirs.canSubmit)
                val refused = runCatching { app.submit(id) }.exceptionOrNull()
                assertTrue(refused is OutpostException.Forbidden, "$refused")
                assertEquals(theirs.submitWithheld, refused?.message)
            }

            app.setMember(Seed.gridMember)
            val raised = app.submit(id)
            screen = app.walkthroughScreen(id).awaitFirst { it.submitted }
            assertFalse(screen.canAnswer || screen.canSubmit)
            assertEquals(raised, screen.items.single { it.item.id == blocked.id }.hazardCases)
            val again = runCatching { app.answer(id, blocked.id, AnswerValue.Pass) }.exceptionOrNull()
            assertTrue(again is OutpostException.WrongState, "$again")
        }
    }

    @Test
    fun `answers made concurrently on two phones show as a conflict on that item`() = runBlocking {
        Outpost.open(dbIn(dir)).use { app ->
            app.setMember(Seed.gridMember)
            val template = app.templates().single { it.id == "residential-fire-safety" }
            val id = app.startInspection(template.id, site)
            val item = template.sections.flatMap { it.items }.first { it.answer == AnswerKind.PASS_FAIL && !it.photoRequired }
            app.answer(id, item.id, AnswerValue.Pass)
            val real = app.inspection(id)

            // Another member's answer to the same item arrived by sync: core lists both, winner first.
            val theirs = Answer(item.id, AnswerValue.Fail, "挡住了", listOf(Seed.photo("x")), "gm-wu", real.startedAt + 1)
            val merged = real.copy(
                answers = real.answers.map { if (it.itemId == item.id) it.copy(answers = it.answers + theirs) else it },
                conflicts = 1,
            )
            val screen = Walkthrough.of(merged, app.readiness(id), app.itemRules(id))
            assertEquals(listOf(item.id), screen.conflictItems)
            val row = screen.items.single { it.item.id == item.id }
            assertTrue(row.conflict)
            assertEquals(AnswerValue.Pass, row.winner?.value)
            assertEquals(listOf("gm-li", "gm-wu"), row.answers.map { it.by })
            assertEquals(1, screen.answered)
        }
    }
}
