package app.outpost.screens.desktop

import androidx.compose.material3.MaterialTheme
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.ui.Modifier
import androidx.compose.material3.Surface
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.CompositionLocalProvider
import androidx.compose.runtime.mutableStateListOf
import app.outpost.Outpost
import app.outpost.Tab
import app.outpost.screens.LocalDates
import app.outpost.screens.LocalTexts
import app.outpost.screens.Navigator
import app.outpost.screens.OutpostApp
import app.outpost.screens.Route
import app.outpost.screens.RouteContent
import app.outpost.screens.Session
import app.outpost.screens.Texts
import java.io.File
import java.util.Locale

/** The desktop host's navigation: a back stack of [Route]s, the tab screen at the bottom. */
class BackStack : Navigator {
    val routes = mutableStateListOf<Route>(Route.Tabs())

    val top: Route get() = routes.last()

    override fun open(route: Route) {
        routes += route
    }

    override fun back() {
        if (routes.size > 1) routes.removeAt(routes.lastIndex)
    }

    override fun showTab(tab: Tab) {
        routes.clear()
        routes += Route.Tabs(tab)
    }
}

/** One phone in a story: its own database, platform stand-ins and back stack. */
class Phone(val name: String, dir: File) : AutoCloseable {
    val platform = DesktopPlatform(File(dir, "camera"), deviceName = name)
    val outpost: Outpost = kotlinx.coroutines.runBlocking { Outpost.open(File(dir, "$name.db").path) }
    val session = Session(outpost, platform)
    val nav = BackStack()

    /**
     * Runs the sync the screens asked for, as the app's scheduler would; fails if none was
     * asked within 10 s. The request comes from the coroutine that did the work, which may
     * finish after the screen already shows its result (enrollment: core's state changes,
     * the tabs appear, then the request is made).
     */
    suspend fun runRequestedSync() {
        val deadline = System.nanoTime() + 10_000_000_000L
        while (platform.syncRequests.isEmpty() && System.nanoTime() < deadline) kotlinx.coroutines.delay(20)
        check(platform.syncRequests.isNotEmpty()) { "$name: the screens asked for no sync within 10 s" }
        platform.syncRequests.clear()
        outpost.syncNow()
    }

    override fun close() = outpost.close()
}

/** The languages every screen is captured in, with their resource folder suffix. */
enum class Language(val tag: String, val suffix: String, val locale: Locale) {
    ZH("zh-Hans", "-zh-rCN", Locale.SIMPLIFIED_CHINESE),
    EN("en", "", Locale.ENGLISH),
    ;

    fun texts(res: File): Texts = XmlTexts.load(res, suffix, locale)
}

/** The app as the phone in hand shows it, in [texts]' language. */
@Composable
fun PhoneUi(phone: Phone, texts: Texts, locale: Locale) {
    CompositionLocalProvider(LocalTexts provides texts, LocalDates provides DesktopDates(locale)) {
        MaterialTheme(colorScheme = lightColorScheme()) {
            Surface(Modifier.fillMaxSize()) {
                val top = phone.nav.top
                OutpostApp(phone.session, phone.nav, (top as? Route.Tabs)?.tab, canGoBack = phone.nav.routes.size > 1) { home ->
                    RouteContent(phone.session, home, top, phone.nav)
                }
            }
        }
    }
}
