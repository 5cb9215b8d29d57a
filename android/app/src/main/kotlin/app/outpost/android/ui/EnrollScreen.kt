package app.outpost.android.ui

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
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import app.outpost.android.R
import app.outpost.ffi.OutpostException
import kotlinx.coroutines.launch

/** Enrollment: the server's address and an invite code from the grid lead. */
@Composable
fun EnrollScreen() {
    val platform = LocalPlatform.current
    val scope = rememberCoroutineScope()
    var server by remember { mutableStateOf("https://") }
    var code by remember { mutableStateOf("") }
    var busy by remember { mutableStateOf(false) }
    var error by remember { mutableStateOf<String?>(null) }

    Column(modifier = Modifier.padding(24.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
        Text(stringResource(R.string.enroll_title), style = MaterialTheme.typography.headlineSmall)
        Text(stringResource(R.string.enroll_hint))
        OutlinedTextField(
            server, { server = it },
            label = { Text(stringResource(R.string.enroll_server)) },
            singleLine = true,
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri),
            modifier = Modifier.fillMaxWidth(),
        )
        OutlinedTextField(code, { code = it }, label = { Text(stringResource(R.string.enroll_code)) }, singleLine = true, modifier = Modifier.fillMaxWidth())
        error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Button(enabled = !busy, modifier = Modifier.fillMaxWidth(), onClick = {
            busy = true
            scope.launch {
                try {
                    platform.sync.enroll(server, code)
                    error = null
                } catch (e: OutpostException) {
                    error = e.message
                } finally {
                    busy = false
                }
            }
        }) { Text(stringResource(R.string.enroll_submit)) }
    }
}
