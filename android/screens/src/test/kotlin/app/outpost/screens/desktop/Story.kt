package app.outpost.screens.desktop

import androidx.compose.runtime.getValue
import androidx.compose.runtime.key
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.setValue
import androidx.compose.ui.geometry.Size
import androidx.compose.ui.graphics.toAwtImage
import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.SemanticsNodeInteraction
import androidx.compose.ui.test.SkikoComposeUiTest
import androidx.compose.ui.test.hasAnyAncestor
import androidx.compose.ui.test.hasClickAction
import androidx.compose.ui.test.hasScrollAction
import androidx.compose.ui.test.hasTestTag
import androidx.compose.ui.test.performScrollToIndex
import androidx.compose.ui.test.performScrollToKey
import androidx.compose.ui.test.isRoot
import androidx.compose.ui.semantics.SemanticsNode
import androidx.compose.ui.semantics.SemanticsProperties
import androidx.compose.ui.semantics.getOrNull
import androidx.compose.ui.test.hasText
import androidx.compose.ui.test.onAllNodesWithText
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performClick
import androidx.compose.ui.test.runSkikoComposeUiTest
import androidx.compose.ui.unit.Density
import java.io.File
import java.nio.file.Files
import javax.imageio.ImageIO

/**
 * A story on one or more phones, rendered headless (skiko's software renderer) and clicked
 * through the screens' semantics, against the real library and the outpost-server that
 * scripts/suites/screens.sh starts. Each [shot] saves the screen in Chinese and English
 * under target/screenshots/<story>/.
 */
@OptIn(ExperimentalTestApi::class)
class Story(private val name: String) {
    private val res = File(System.getProperty("outpost.res") ?: error("outpost.res is not set: run through scripts/suites/screens.sh"))
    private val shots = File(System.getProperty("outpost.shots") ?: "target/screenshots", name).apply {
        deleteRecursively()
        mkdirs()
    }
    private val texts = Language.entries.associateWith { it.texts(res) }
    private val dir: File = Files.createTempDirectory("outpost-$name").toFile()
    private val phones = mutableListOf<Phone>()
    private var shotCount = 0

    private var inHand by mutableStateOf<Phone?>(null)
    private var language by mutableStateOf(Language.ZH)

    /** Files written by [shot], in order. */
    val saved = mutableListOf<File>()

    fun phone(name: String): Phone = Phone(name, dir).also { phones += it }

    /** The text for [key] in the language the story clicks in (Chinese). */
    fun tx(key: String, vararg args: Any): String = texts.getValue(Language.ZH).get(key, *args)

    fun run(block: SkikoComposeUiTest.() -> Unit) {
        try {
            // A 400 x 820 dp phone screen at density 2.
            runSkikoComposeUiTest(size = Size(800f, 1640f), density = Density(2f)) {
                setContent {
                    val phone = inHand
                    if (phone != null) key(phone) { PhoneUi(phone, texts.getValue(language), language.locale) }
                }
                block()
            }
        } finally {
            phones.forEach { it.close() }
            dir.deleteRecursively()
        }
    }

    fun SkikoComposeUiTest.hold(phone: Phone) {
        runOnUiThread { inHand = phone }
        waitForIdle()
    }

    /** Saves what the phone in hand shows, once per language. */
    fun SkikoComposeUiTest.shot(screen: String) {
        shotCount++
        for (lang in Language.entries) {
            runOnUiThread { language = lang }
            waitForIdle()
            val file = File(shots, "%02d-%s.%s.png".format(shotCount, screen, lang.tag))
            ImageIO.write(captureToImage().toAwtImage(), "png", file)
            saved += file
        }
        runOnUiThread { language = Language.ZH }
        waitForIdle()
    }

    /** Waits until [text] is on screen; core's work and syncs run off the UI thread. */
    fun SkikoComposeUiTest.await(text: String, timeoutMs: Long = 20_000) =
        until("'$text' shown", timeoutMs) { onAllNodesWithText(text, substring = true).fetchSemanticsNodes().isNotEmpty() }

    fun SkikoComposeUiTest.awaitGone(text: String, timeoutMs: Long = 20_000) =
        until("'$text' gone", timeoutMs) { onAllNodesWithText(text, substring = true).fetchSemanticsNodes().isEmpty() }

    /**
     * Polls [condition] for [timeoutMs] of wall-clock time (the test clock's waitUntil counts
     * frames, which software rendering makes slow). On a timeout, saves what the screen shows
     * (FAILED-*.png) and fails with the texts on it.
     */
    private fun SkikoComposeUiTest.until(what: String, timeoutMs: Long, condition: () -> Boolean) {
        val deadline = System.nanoTime() + timeoutMs * 1_000_000
        while (true) {
            waitForIdle()
            if (condition()) return
            if (System.nanoTime() > deadline) break
            Thread.sleep(100)
        }
        val file = File(shots, "FAILED-%02d.png".format(shotCount + 1))
        ImageIO.write(captureToImage().toAwtImage(), "png", file)
        val shown = onAllNodes(isRoot()).fetchSemanticsNodes().flatMap { texts(it) }
        throw AssertionError("$name: $what within $timeoutMs ms; the screen (saved as $file) shows: $shown")
    }

    private fun texts(node: SemanticsNode): List<String> =
        node.config.getOrNull(SemanticsProperties.Text).orEmpty().map { it.text } +
            node.config.getOrNull(SemanticsProperties.EditableText)?.let { listOf(it.text) }.orEmpty() +
            node.children.flatMap { texts(it) }

    /**
     * Taps the clickable element showing [text] (inside the node tagged [within], if given),
     * once it is on screen: a list fills from core's flows after the screen appears.
     */
    fun SkikoComposeUiTest.tap(text: String, within: String? = null): SemanticsNodeInteraction {
        var matcher = hasText(text) and hasClickAction()
        if (within != null) matcher = matcher and hasAnyAncestor(hasTestTag(within))
        val clickable = { onAllNodes(matcher, useUnmergedTree = false).fetchSemanticsNodes().isNotEmpty() }
        until("'$text' to tap", 20_000) { clickable() || onAllNodesWithText(text).fetchSemanticsNodes().isNotEmpty() }
        val node = if (clickable()) {
            onNode(matcher)
        } else {
            // A Text inside a button: the click action is on the merged parent.
            onNodeWithText(text)
        }
        return node.performClick().also { waitForIdle() }
    }

    /** Scrolls the list on screen to the item with [key], once the list is there and holds it. */
    fun SkikoComposeUiTest.scrollTo(key: Any) {
        until("item '$key' in a scrollable list", 20_000) {
            onAllNodes(hasScrollAction()).fetchSemanticsNodes().isNotEmpty() &&
                try {
                    onNode(hasScrollAction()).performScrollToKey(key)
                    true
                } catch (e: IllegalArgumentException) {
                    false // the list has not got the item yet
                }
        }
        waitForIdle()
    }

    fun SkikoComposeUiTest.scrollToTop() {
        until("a scrollable list", 20_000) { onAllNodes(hasScrollAction()).fetchSemanticsNodes().isNotEmpty() }
        onNode(hasScrollAction()).performScrollToIndex(0)
        waitForIdle()
    }

    /** Switches the bottom tab of the phone in hand. */
    fun SkikoComposeUiTest.tab(key: String) = tap(tx(key))
}
