package app.outpost.screens.desktop

/**
 * The outpost-server scripts/suites/screens.sh starts on 127.0.0.1, with a directory made
 * through its admin subcommands: one grid per story, two responder units, and an invite
 * code per member (OUTPOST_INVITE_<MEMBER>, each usable once).
 */
object Server {
    private fun env(name: String): String =
        System.getenv(name)?.takeIf { it.isNotBlank() }
            ?: error("$name is not set: run these stories through scripts/suites/screens.sh, which starts the server")

    val url: String get() = env("OUTPOST_TEST_SERVER_URL")

    fun invite(member: String): String = env("OUTPOST_INVITE_" + member.uppercase().replace('-', '_'))

    const val FIRE_UNIT = "U-FIRE"
    const val FIRE_UNIT_NAME = "殷行消防救援站"
    const val CITY_UNIT = "U-CITY"
}
