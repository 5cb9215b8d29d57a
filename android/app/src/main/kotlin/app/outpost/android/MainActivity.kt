package app.outpost.android

import android.os.Bundle
import androidx.activity.ComponentActivity
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.compose.foundation.isSystemInDarkTheme
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Surface
import androidx.compose.material3.darkColorScheme
import androidx.compose.material3.lightColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.CompositionLocalProvider
import androidx.compose.runtime.getValue
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import androidx.navigation.NavHostController
import androidx.navigation.NavType
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.currentBackStackEntryAsState
import androidx.navigation.compose.rememberNavController
import androidx.navigation.navArgument
import app.outpost.Outpost
import app.outpost.Tab
import app.outpost.screens.LocalDates
import app.outpost.screens.LocalTexts
import app.outpost.screens.Navigator
import app.outpost.screens.OutpostApp
import app.outpost.screens.Route
import app.outpost.screens.RouteContent
import app.outpost.screens.Session

/** The one activity: the shared screens (android/screens) with Android's platform layer and navigation. */
class MainActivity : ComponentActivity() {
    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        val app = application as OutpostApplication
        val platform = ActivityPlatform(this, app)
        val texts = ResourceTexts(this)
        val dates = SystemDates(this)
        setContent {
            MaterialTheme(colorScheme = if (isSystemInDarkTheme()) darkColorScheme() else lightColorScheme()) {
                CompositionLocalProvider(LocalTexts provides texts, LocalDates provides dates) {
                    Surface(Modifier.fillMaxSize()) {
                        val outpost by produceState<Outpost?>(null) { value = app.outpost.await() }
                        outpost?.let { o -> AndroidApp(remember(o) { Session(o, platform) }) }
                    }
                }
            }
        }
    }
}

private const val TABS = "tabs?tab={tab}"

private val Route.path: String
    get() = when (this) {
        is Route.Tabs -> "tabs?tab=${tab?.name.orEmpty()}"
        Route.Report -> "report"
        is Route.Case -> "case/$id"
        is Route.Walkthrough -> "walk/$id"
        Route.Sync -> "sync"
    }

/** navigation-compose behind the screens' [Navigator]: system back pops, a tab clears the stack. */
private class NavControllerNavigator(private val controller: NavHostController) : Navigator {
    override fun open(route: Route) = controller.navigate(route.path)

    override fun back() {
        controller.popBackStack()
    }

    override fun showTab(tab: Tab) = controller.navigate(Route.Tabs(tab).path) {
        popUpTo(controller.graph.id) { inclusive = true }
    }
}

@Composable
private fun AndroidApp(session: Session) {
    val controller = rememberNavController()
    val nav = remember(controller) { NavControllerNavigator(controller) }
    val entry by controller.currentBackStackEntryAsState()
    val tab = entry?.arguments?.getString("tab")?.let { name -> Tab.entries.firstOrNull { it.name == name } }
    val canGoBack = entry != null && controller.previousBackStackEntry != null
    OutpostApp(session, nav, tab, canGoBack) { home ->
        NavHost(controller, startDestination = TABS) {
            composable(TABS, arguments = listOf(navArgument("tab") { type = NavType.StringType; nullable = true })) { e ->
                val chosen = e.arguments?.getString("tab")?.let { name -> Tab.entries.firstOrNull { it.name == name } }
                RouteContent(session, home, Route.Tabs(chosen), nav)
            }
            composable("report") { RouteContent(session, home, Route.Report, nav) }
            composable("case/{id}") { e -> RouteContent(session, home, Route.Case(e.arguments?.getString("id").orEmpty()), nav) }
            composable("walk/{id}") { e -> RouteContent(session, home, Route.Walkthrough(e.arguments?.getString("id").orEmpty()), nav) }
            composable("sync") { RouteContent(session, home, Route.Sync, nav) }
        }
    }
}
