package app.outpost.screens.desktop

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performTextReplacement
import app.outpost.ffi.AnswerKind
import app.outpost.ffi.AnswerValue
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Test

/**
 * Two grid members walk one building with the fire-safety checklist on two phones. Li starts
 * the walkthrough; both phones have it after a sync; each answers the same item differently
 * before hearing of the other's answer. After both sync, both screens show the conflict:
 * Li's answer counts, Zhao's is shown beside it.
 */
@OptIn(ExperimentalTestApi::class)
class ChecklistConflictStory {
    @Test
    fun `two members answer one item differently and both see the conflict`() {
        val story = Story("checklist-conflict")
        story.run {
            with(story) {
                val li = phone("gm-li")
                hold(li)
                enroll(this@run, "gm-li", tx("tab_walkthroughs"))
                runBlocking { li.runRequestedSync() }
                tab("tab_walkthroughs")
                await(tx("walk_start"))
                val template = runBlocking { li.outpost.templates() }.first { it.id == "residential-fire-safety" }
                tap(template.title)
                onNodeWithText(tx("walk_site")).performTextReplacement("殷行路650弄3号楼")
                onNodeWithText(tx("walk_address")).performTextReplacement("殷行路650弄3号")
                shot("walkthrough-start")
                tap(tx("walk_begin"))
                await(tx("walk_progress", 0, template.sections.sumOf { it.items.size }))
                shot("walkthrough-new")
                val inspectionId = runBlocking { li.outpost.inspections().first { it.isNotEmpty() } }.single().id
                runBlocking { li.outpost.syncNow() }

                val zhao = phone("gm-zhao")
                hold(zhao)
                enroll(this@run, "gm-zhao", tx("tab_walkthroughs"))
                runBlocking { zhao.runRequestedSync() }
                tab("tab_walkthroughs")
                await("殷行路650弄3号楼")
                shot("walkthroughs-other-phone")
                tap("殷行路650弄3号楼")

                // The same pass/fail item, answered on both phones before either syncs.
                val item = template.sections.flatMap { it.items }.first { it.answer == AnswerKind.PASS_FAIL && !it.photoRequired }
                scrollTo(item.id)
                tap(tx("answer_fail"), within = "item:${item.id}")
                scrollToTop()
                await(tx("walk_progress", 1, template.sections.sumOf { it.items.size }))

                hold(li)
                scrollTo(item.id)
                tap(tx("answer_pass"), within = "item:${item.id}")
                scrollToTop()
                await(tx("walk_progress", 1, template.sections.sumOf { it.items.size }))

                runBlocking {
                    li.outpost.syncNow()
                    zhao.outpost.syncNow()
                    li.outpost.syncNow()
                }
                await(tx("walk_conflicts", 1))
                shot("walkthrough-conflict")
                // Core lists both answers, the one that counts first, the same on both phones.
                val answers = runBlocking { li.outpost.inspection(inspectionId) }.answers.single { it.itemId == item.id }.answers
                assertEquals(2, answers.size)
                assertEquals(setOf("gm-li", "gm-zhao"), answers.map { it.by }.toSet())
                assertEquals(setOf(AnswerValue.Pass, AnswerValue.Fail), answers.map { it.value }.toSet())
                val other = answers[1]
                val otherLine = tx("walk_other_answer", tx(if (other.value == AnswerValue.Fail) "answer_fail" else "answer_pass"), other.by)
                scrollTo(item.id)
                await(otherLine)
                shot("walkthrough-conflict-item")

                hold(zhao)
                scrollTo(item.id)
                await(otherLine)
                shot("walkthrough-conflict-other-phone")
                assertEquals(
                    answers,
                    runBlocking { zhao.session.walkthrough(inspectionId).first() }.items.single { it.item.id == item.id }.answers,
                )

                runOnUiThread { zhao.nav.back() }
                await(tx("badge_conflicts", 1))
                shot("walkthroughs-conflict")
            }
        }
    }
}
