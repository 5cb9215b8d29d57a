package app.outpost.screens

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import kotlinx.coroutines.launch

/** Enrollment: the server's address and an invite code from the grid lead. */
@Composable
fun EnrollScreen(
    server: String,
    code: String,
    busy: Boolean,
    error: String?,
    onServer: (String) -> Unit,
    onCode: (String) -> Unit,
    onEnroll: () -> Unit,
) {
    Column(modifier = Modifier.padding(24.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text(t("enroll_title"), style = MaterialTheme.typography.headlineSmall)
        Text(t("enroll_hint"))
        OutlinedTextField(
            server, onServer,
            label = { Text(t("enroll_server")) },
            singleLine = true,
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri),
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(code, onCode, label = { Text(t("enroll_code")) }, singleLine = true, modifier = Modifier.fillMaxWidth())
        ErrorText(error)
        Button(enabled = !busy, modifier = Modifier.fillMaxWidth(), onClick = onEnroll) { Text(t("enroll_submit")) }
    }
}

/** Enrolls, then the member's home replaces this screen (the home flow hears the member change). */
@Composable
fun EnrollRoute(session: Session) {
    val scope = rememberCoroutineScope()
    var server by remember { mutableStateOf("https://") }
    var code by remember { mutableStateOf("") }
    var busy by remember { mutableStateOf(false) }
    var error by remember { mutableStateOf<String?>(null) }
    EnrollScreen(server, code, busy, error, onServer = { server = it }, onCode = { code = it }, onEnroll = {
        busy = true
        scope.launch {
            session.enroll(server, code)
                .onSuccess { error = null }
                .onFailure { error = it.readable }
            busy = false
        }
    })
}
