package app.outpost.screens.desktop

import androidx.compose.ui.test.ExperimentalTestApi
import androidx.compose.ui.test.SkikoComposeUiTest
import androidx.compose.ui.test.onNodeWithText
import androidx.compose.ui.test.performTextReplacement

/** Enrolls the phone in hand through the enrollment screen with [member]'s invite code. */
@OptIn(ExperimentalTestApi::class)
fun Story.enroll(ui: SkikoComposeUiTest, member: String, landsOn: String) = with(ui) {
    await(tx("enroll_title"))
    onNodeWithText(tx("enroll_server")).performTextReplacement(Server.url)
    onNodeWithText(tx("enroll_code")).performTextReplacement(Server.invite(member))
    tap(tx("enroll_submit"))
    await(landsOn)
}
