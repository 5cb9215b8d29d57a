package app.outpost.screens

import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.padding
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.CheckCircle
import androidx.compose.material.icons.filled.Home
import androidx.compose.material.icons.filled.Notifications
import androidx.compose.material.icons.filled.Person
import androidx.compose.material.icons.filled.Warning
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.Icon
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.compose.ui.Modifier
import app.outpost.Home
import app.outpost.Tab
import app.outpost.ffi.HomeList

/** A place in the app. The Android app maps these to navigation-compose destinations. */
sealed interface Route {
    /** The member's tabs; [tab] is the one shown. */
    data class Tabs(val tab: Tab? = null) : Route
    data object Report : Route
    data class Case(val id: String) : Route
    data class Walkthrough(val id: String) : Route
    data object Sync : Route
}

/** Moves between [Route]s: navigation-compose on Android, a plain back stack in the desktop host. */
interface Navigator {
    fun open(route: Route)

    fun back()

    /** Shows [tab] of the tab screen, clearing what was opened over it. */
    fun showTab(tab: Tab)
}

private val Tab.icon
    get() = when (this) {
        Tab.HOME -> Icons.Filled.Home
        Tab.MY_REPORTS -> Icons.Filled.Person
        Tab.OPEN_CASES, Tab.UNIT_QUEUE -> Icons.Filled.Notifications
        Tab.OVERDUE -> Icons.Filled.Warning
        Tab.WALKTHROUGHS -> Icons.Filled.CheckCircle
    }

/** The tab a member lands on, or the one asked for if the member has it. */
fun Home.tabOrFirst(tab: Tab?): Tab? = if (tab != null && tab in tabs) tab else tabs.firstOrNull()

/**
 * The frame around every screen once enrolled: the app bar with the sync indicator, the
 * member's tabs at the bottom (when there is more than one), a back button over the tabs.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun MainFrame(
    home: Home,
    tab: Tab?,
    canGoBack: Boolean,
    nav: Navigator,
    syncBar: @Composable () -> Unit,
    content: @Composable () -> Unit,
) {
    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(t("app_name")) },
                navigationIcon = { if (canGoBack) TextButton(onClick = nav::back) { Text(t("back")) } },
                actions = { syncBar() },
            )
        },
        bottomBar = {
            if (home.tabs.size > 1) {
                NavigationBar {
                    home.tabs.forEach { item ->
                        NavigationBarItem(
                            selected = !canGoBack && item == tab,
                            onClick = { nav.showTab(item) },
                            icon = { Icon(item.icon, contentDescription = null) },
                            label = { Text(t(item.key)) },
                        )
                    }
                }
            }
        },
    ) { padding ->
        Box(Modifier.padding(padding)) { content() }
    }
}

/** The screen for one [Route]: the same on Android and in the desktop host. */
@Composable
fun RouteContent(session: Session, home: Home, route: Route, nav: Navigator) {
    when (route) {
        is Route.Tabs -> when (home.tabOrFirst(route.tab)) {
            Tab.HOME -> HomeRoute(session, home, nav)
            Tab.MY_REPORTS -> MyReportsRoute(session, nav)
            Tab.OPEN_CASES -> QueueRoute(session, HomeList.OPEN_CASES, nav)
            Tab.OVERDUE -> QueueRoute(session, HomeList.OVERDUE, nav)
            Tab.UNIT_QUEUE -> QueueRoute(session, HomeList.UNIT_QUEUE, nav)
            Tab.WALKTHROUGHS -> WalkthroughsRoute(session, home, nav)
            null -> Unit
        }
        Route.Report -> ReportRoute(session, home, nav)
        is Route.Case -> CaseDetailRoute(session, route.id)
        is Route.Walkthrough -> WalkthroughRoute(session, route.id)
        Route.Sync -> SyncRoute(session)
    }
}

/**
 * The whole app for a [Session]: enrollment until the phone has a member, then [MainFrame]
 * around the current route. [content] draws the current route (the Android app passes its
 * NavHost; the desktop host draws [RouteContent] for the top of its back stack).
 */
@Composable
fun OutpostApp(
    session: Session,
    nav: Navigator,
    tab: Tab?,
    canGoBack: Boolean,
    content: @Composable (Home) -> Unit,
) {
    val home by remember(session) { session.home }.collectAsState(null)
    val h = home ?: return
    if (h.member == null) {
        EnrollRoute(session)
    } else {
        MainFrame(h, h.tabOrFirst(tab), canGoBack, nav, syncBar = { SyncBarRoute(session) { nav.open(Route.Sync) } }) { content(h) }
    }
}
