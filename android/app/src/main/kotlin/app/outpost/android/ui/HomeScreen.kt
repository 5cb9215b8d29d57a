package app.outpost.android.ui

import android.Manifest
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
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
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.font.FontWeight
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import app.outpost.CaseAction
import app.outpost.Home
import app.outpost.Rules
import app.outpost.SyncPolicy
import app.outpost.android.R
import app.outpost.facts
import app.outpost.ffi.CaseEdit
import app.outpost.ffi.OutpostException
import app.outpost.ffi.Urgency
import kotlinx.coroutines.launch

/**
 * The large "person in distress" button: one tap saves a life-safety flag at once (with the
 * last fix if there is a recent one, without if not), asks for an expedited sync, then adds
 * a fresh fix to the case when one arrives and core still allows the reporter to edit it.
 */
@Composable
fun HomeScreen(home: Home, onReport: () -> Unit, onOpenCase: (String) -> Unit) {
    val outpost = LocalOutpost.current
    val platform = LocalPlatform.current
    val scope = rememberCoroutineScope()
    var flagged by remember { mutableStateOf<String?>(null) }
    var error by remember { mutableStateOf<String?>(null) }
    val askLocation = rememberLauncherForActivityResult(ActivityResultContracts.RequestMultiplePermissions()) {}
    LaunchedEffect(Unit) {
        if (!platform.locator.allowed()) {
            askLocation.launch(arrayOf(Manifest.permission.ACCESS_FINE_LOCATION, Manifest.permission.ACCESS_COARSE_LOCATION))
        }
    }

    Column(
        modifier = Modifier.fillMaxSize().padding(24.dp),
        verticalArrangement = Arrangement.spacedBy(24.dp, Alignment.CenterVertically),
        horizontalAlignment = Alignment.CenterHorizontally,
    ) {
        val grid = home.grid
        if (home.canFlag && grid != null) {
            Button(
                onClick = {
                    scope.launch {
                        try {
                            val id = outpost.flagPersonInDistress(grid, platform.locator.recent())
                            flagged = id
                            error = null
                            platform.sync.request(expedited = SyncPolicy.expedite(Urgency.LIFE_SAFETY))
                            val case = outpost.case(id)
                            if (case.location == null && Rules.allows(home.member, case.facts, CaseAction.EDIT)) {
                                platform.locator.current()?.let { outpost.edit(id, CaseEdit(location = it)) }
                            }
                        } catch (e: OutpostException) {
                            error = e.message
                        }
                    }
                },
                shape = CircleShape,
                colors = ButtonDefaults.buttonColors(containerColor = Alarm),
                modifier = Modifier.fillMaxWidth().height(220.dp),
            ) {
                Text(stringResource(R.string.distress_button), fontSize = 28.sp, fontWeight = FontWeight.Bold)
            }
            Text(stringResource(R.string.distress_hint), style = MaterialTheme.typography.bodyMedium)
        }
        flagged?.let { id ->
            Text(stringResource(R.string.distress_saved), color = Alarm, style = MaterialTheme.typography.titleMedium)
            OutlinedButton(onClick = { onOpenCase(id) }) { Text(stringResource(R.string.open_case)) }
        }
        error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        if (home.canReport) {
            OutlinedButton(onClick = onReport, modifier = Modifier.fillMaxWidth()) {
                Text(stringResource(R.string.report_problem))
            }
        }
    }
}
