package app.outpost.android.ui

import androidx.compose.foundation.layout.padding
import androidx.compose.material.icons.Icons
import androidx.compose.material.icons.filled.CheckCircle
import androidx.compose.material.icons.filled.Home
import androidx.compose.material.icons.filled.Notifications
import androidx.compose.material.icons.filled.Person
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.Icon
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.CompositionLocalProvider
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.produceState
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.res.stringResource
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import app.outpost.Home
import app.outpost.Outpost
import app.outpost.Tab
import app.outpost.android.OutpostApplication
import app.outpost.android.R
import app.outpost.home
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onStart

/** Waits for the store, then shows enrollment or the member's tabs. */
@Composable
fun AppRoot(app: OutpostApplication) {
    val outpost by produceState<Outpost?>(null) { value = app.outpost.await() }
    val o = outpost ?: return
    CompositionLocalProvider(LocalOutpost provides o, LocalPlatform provides app.platform) {
        val home by remember(o) {
            o.changes.filter { it.memberChanged }.map { }.onStart { emit(Unit) }.map { o.home() }
        }.collectAsStateWithLifecycle(null)
        when (val h = home) {
            null -> Unit
            else -> if (h.member == null) EnrollScreen() else Main(h)
        }
    }
}

private val Tab.icon
    get() = when (this) {
        Tab.HOME -> Icons.Filled.Home
        Tab.MY_REPORTS -> Icons.Filled.Person
        Tab.QUEUE -> Icons.Filled.Notifications
        Tab.WALKTHROUGHS -> Icons.Filled.CheckCircle
    }

@OptIn(ExperimentalMaterial3Api::class)
@Composable
private fun Main(home: Home) {
    val nav = rememberNavController()
    var chosen by rememberSaveable { mutableStateOf(home.tabs.first()) }
    val tab = if (chosen in home.tabs) chosen else home.tabs.first()
    val openCase: (String) -> Unit = { nav.navigate("case/$it") }

    Scaffold(
        topBar = { TopAppBar(title = { Text(stringResource(R.string.app_name)) }, actions = { SyncBar() }) },
        bottomBar = {
            if (home.tabs.size > 1) {
                NavigationBar {
                    home.tabs.forEach { t ->
                        NavigationBarItem(
                            selected = t == tab,
                            onClick = {
                                chosen = t
                                nav.popBackStack("tabs", inclusive = false)
                            },
                            icon = { Icon(t.icon, contentDescription = null) },
                            label = { Text(label(t.key)) },
                        )
                    }
                }
            }
        },
    ) { padding ->
        NavHost(nav, startDestination = "tabs", modifier = Modifier.padding(padding)) {
            composable("tabs") {
                when (tab) {
                    Tab.HOME -> HomeScreen(home, onReport = { nav.navigate("report") }, onOpenCase = openCase)
                    Tab.MY_REPORTS -> MyReportsScreen(openCase)
                    Tab.QUEUE -> QueueScreen(openCase)
                    Tab.WALKTHROUGHS -> WalkthroughsScreen(home) { nav.navigate("walk/$it") }
                }
            }
            composable("report") {
                ReportScreen(home) { id ->
                    nav.popBackStack()
                    openCase(id)
                }
            }
            composable("case/{id}") { entry -> CaseDetailScreen(entry.arguments?.getString("id").orEmpty()) }
            composable("walk/{id}") { entry -> WalkthroughScreen(entry.arguments?.getString("id").orEmpty()) }
        }
    }
}
