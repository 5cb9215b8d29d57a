package app.outpost.screens.desktop

import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNotNull
import org.junit.Test
import java.nio.file.Files

/**
 * A person's action outlives the screen that started it: the enrollment screen leaves as soon
 * as core knows the member, which cancels its coroutines, and the first sync must still be
 * asked for (and an enrollment the server accepted must still be stored).
 */
class SessionActionTest {
    @Test
    fun `an enrollment whose screen leaves midway is stored and still asks for its sync`() {
        val dir = Files.createTempDirectory("outpost-session").toFile()
        try {
            Phone("rider-zhou", dir).use { phone ->
                runBlocking {
                    // Started as a screen starts it, then cancelled while core is at work.
                    val job = launch(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                        phone.session.enroll(Server.url, Server.invite("rider-zhou"))
                    }
                    job.cancel()
                    job.join()
                }
                assertNotNull("the enrollment is stored", runBlocking { phone.outpost.member() })
                assertEquals(listOf(false), phone.platform.syncRequests.toList())
            }
        } finally {
            dir.deleteRecursively()
        }
    }
}
