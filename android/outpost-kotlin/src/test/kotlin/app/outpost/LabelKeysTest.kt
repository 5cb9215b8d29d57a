package app.outpost

import app.outpost.ffi.Action
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.Category
import app.outpost.ffi.EventKind
import app.outpost.ffi.InspectionStatus
import app.outpost.ffi.Status
import app.outpost.ffi.Urgency
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.io.File

/**
 * Every label key the facade can hand a screen exists in both languages of both apps:
 * Android's strings.xml (values, values-zh-rCN) and iOS's Localizable.strings (en, zh-Hans);
 * and the label prefixes (status_, action_, ...) hold nothing else, so scripts/suites/shells.sh
 * can hold the Swift facade's keys to exactly these.
 */
class LabelKeysTest {
    private val repo: File = generateSequence(File("").absoluteFile) { it.parentFile }
        .first { File(it, "android/app").isDirectory && File(it, "ios").isDirectory }

    private val events = listOf(
        EventKind.Created, EventKind.Accepted, EventKind.Dispatched("u", 1), EventKind.Progress(""),
        EventKind.Resolved(""), EventKind.FollowUp(1, 5, ""), EventKind.Reopened(""), EventKind.Cancelled(""),
        EventKind.Comment(""), EventKind.PhotoAdded(""), EventKind.Edited(CaseEdit()), EventKind.Moved("g"), EventKind.Unknown("x"),
    )

    private val facadeKeys: List<String> =
        Status.entries.map { it.key } + InspectionStatus.entries.map { it.key } + Category.entries.map { it.key } + Urgency.entries.map { it.key } +
            events.map { it.key } + Action.entries.map { it.key } + Acknowledgement.entries.map { it.key } +
            Tab.entries.map { it.key } + AnswerChoice.entries.map { it.key } + SyncIndicator.entries.map { it.key }

    private fun androidKeys(dir: String): Set<String> =
        Regex("""<string\s+name="([A-Za-z0-9_]+)"""")
            .findAll(File(repo, "android/app/src/main/res/$dir/strings.xml").readText())
            .map { it.groupValues[1] }.toSet()

    private fun iosKeys(lproj: String): Set<String> =
        Regex("""(?m)^\s*"([^"]+)"\s*=""")
            .findAll(File(repo, "ios/OutpostApp/Resources/$lproj/Localizable.strings").readText())
            .map { it.groupValues[1] }.toSet()

    @Test
    fun `every facade label exists in English and Chinese on Android and iOS`() {
        assertEquals(facadeKeys.size, facadeKeys.toSet().size, "two labels share a key")
        assertEquals(13, events.map { it.key }.toSet().size, "a timeline event kind has no label of its own")
        val files = mapOf(
            "android values" to androidKeys("values"),
            "android values-zh-rCN" to androidKeys("values-zh-rCN"),
            "ios en" to iosKeys("en.lproj"),
            "ios zh-Hans" to iosKeys("zh-Hans.lproj"),
        )
        val prefixes = facadeKeys.map { it.substringBefore('_') + "_" }.toSet()
        for ((name, keys) in files) {
            val missing = facadeKeys.filter { it !in keys }
            assertTrue(missing.isEmpty(), "$name lacks $missing")
            // The label prefixes belong to the facade: a stale or misspelt label key fails here.
            val stale = keys.filter { k -> prefixes.any { k.startsWith(it) } && k !in facadeKeys }
            assertTrue(stale.isEmpty(), "$name has label keys the facade never produces: $stale")
        }
    }
}
