package app.outpost.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.height
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.shape.CircleShape
import androidx.compose.material3.Button
import androidx.compose.material3.ButtonDefaults
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import app.outpost.Home
import kotlinx.coroutines.launch

/**
 * The home screen: the large "person in distress" button (one tap saves the flag), then the
 * way to the case it saved, and the report form's button where the member may report.
 */
@Composable
fun HomeScreen(
    home: Home,
    flagged: String?,
    error: String?,
    onFlag: () -> Unit,
    onOpenCase: (String) -> Unit,
    onReport: () -> Unit,
) {
    Column(
        modifier = Modifier.fillMaxSize().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(24.dp, Alignment.CenterVertically),
        horizontalAlignment = Alignment.CenterHorizontally,
    ) {
        if (home.canFlag) {
            Button(
                onClick = onFlag,
                shape = CircleShape,
                colors = ButtonDefaults.buttonColors(containerColor = Alarm),
                modifier = Modifier.fillMaxWidth().height(220.dp),
            ) {
                Text(t("distress_button"), fontSize = 28.sp, fontWeight = FontWeight.Bold)
            }
            Text(t("distress_hint"), style = MaterialTheme.typography.bodyMedium)
        }
        flagged?.let { id ->
            Text(t("distress_saved"), color = Alarm, style = MaterialTheme.typography.titleMedium)
            OutlinedButton(onClick = { onOpenCase(id) }) { Text(t("open_case")) }
        }
        ErrorText(error)
        if (home.canReport) {
            OutlinedButton(onClick = onReport, modifier = Modifier.fillMaxWidth()) { Text(t("report_problem")) }
        }
    }
}

/**
 * One tap saves a life-safety flag at once (the last fix if recent, none if not) and asks for
 * an expedited sync; a fresh fix is added afterwards if core still lets the reporter correct it.
 */
@Composable
fun HomeRoute(session: Session, home: Home, nav: Navigator) {
    val scope = rememberCoroutineScope()
    var flagged by remember { mutableStateOf<String?>(null) }
    var error by remember { mutableStateOf<String?>(null) }
    LaunchedEffect(Unit) { session.platform.askLocationPermission() }
    HomeScreen(
        home = home,
        flagged = flagged,
        error = error,
        onFlag = {
            val grid = home.grid ?: return@HomeScreen
            scope.launch {
                session.flag(grid)
                    .onSuccess { id ->
                        flagged = id
                        error = null
                        session.locateFlag(id).onFailure { error = it.readable }
                    }
                    .onFailure { error = it.readable }
            }
        },
        onOpenCase = { nav.open(Route.Case(it)) },
        onReport = { nav.open(Route.Report) },
    )
}
