package app.outpost

import java.io.IOException
import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.net.URI
import java.util.concurrent.ConcurrentLinkedQueue
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicLong
import kotlin.concurrent.thread

/**
 * The `outpost-server` process scripts/suites/kotlin.sh starts on 127.0.0.1 for these
 * tests, with a directory it made through the server's admin subcommands: grid [grid] with
 * a courier and three grid members, each with a one-time invite code.
 */
object TestServer {
    private fun env(name: String): String =
        System.getenv(name)?.takeIf { it.isNotBlank() }
            ?: error("$name is not set: run these tests through scripts/suites/kotlin.sh, which starts the server")

    val url: String get() = env("OUTPOST_TEST_SERVER_URL")
    val grid: String get() = env("OUTPOST_TEST_GRID")

    /** Invite codes, one per member; each can be used once. */
    val courierCode: String get() = env("OUTPOST_TEST_INVITE_COURIER")
    val memberCode: String get() = env("OUTPOST_TEST_INVITE_MEMBER")
    val relayedMemberCode: String get() = env("OUTPOST_TEST_INVITE_MEMBER2")
    val revokedMemberCode: String get() = env("OUTPOST_TEST_INVITE_MEMBER3")

    /** The photo story's grid and its two grid members. */
    val photoGrid: String get() = env("OUTPOST_TEST_PHOTO_GRID")
    val photographerCode: String get() = env("OUTPOST_TEST_INVITE_PHOTOGRAPHER")
    val viewerCode: String get() = env("OUTPOST_TEST_INVITE_VIEWER")

    /** Runs an `outpost-server` admin subcommand on the running server's data; its output. */
    fun admin(vararg args: String): String {
        val p = ProcessBuilder(env("OUTPOST_TEST_SERVER_BIN"), "--data-dir", env("OUTPOST_TEST_SERVER_DATA"), *args)
            .redirectErrorStream(true)
            .start()
        val out = p.inputStream.bufferedReader().readText()
        check(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) { "outpost-server ${args.toList()} hung" }
        check(p.exitValue() == 0) { "outpost-server ${args.toList()} failed: $out" }
        return out
    }
}

/**
 * A TCP relay on a loopback port to [target]'s host and port: a device enrolled through it
 * talks to the real server until [close], after which the port refuses connections, as a
 * server that went away does.
 */
class Relay(target: String) : AutoCloseable {
    private val to = URI(target)
    private val listener = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
    private val open = ConcurrentLinkedQueue<Socket>()
    val url = "http://127.0.0.1:${listener.localPort}"

    init {
        thread(isDaemon = true, name = "relay-accept") {
            while (true) {
                val client = try {
                    listener.accept()
                } catch (_: IOException) {
                    break
                }
                val upstream = try {
                    Socket(to.host, to.port)
                } catch (_: IOException) {
                    client.close()
                    continue
                }
                open += client
                open += upstream
                pump(client, upstream)
                pump(upstream, client)
            }
        }
    }

    private fun pump(from: Socket, to: Socket) = thread(isDaemon = true, name = "relay-pump") {
        try {
            from.getInputStream().copyTo(to.getOutputStream())
            to.shutdownOutput()
        } catch (_: IOException) {
            // The other side or close() ended the connection.
        }
    }

    override fun close() {
        listener.close()
        open.forEach { runCatching { it.close() } }
    }
}

/**
 * A port that accepts connections (the kernel completes them) and never answers: a server
 * that hangs.
 */
class SilentServer : AutoCloseable {
    private val listener = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
    val url = "http://127.0.0.1:${listener.localPort}"

    override fun close() = listener.close()
}

/**
 * A TCP relay to [target] that cuts the connection carrying the [cutAt]-th byte sent
 * towards the server (both directions closed at once, mid-request), once; connections
 * after that pass untouched. [cuts] says whether it happened.
 */
class CuttingRelay(target: String, private val cutAt: Long) : AutoCloseable {
    private val to = URI(target)
    private val listener = ServerSocket(0, 50, InetAddress.getLoopbackAddress())
    private val open = ConcurrentLinkedQueue<Socket>()
    private val upstreamBytes = AtomicLong()
    private val cut = AtomicBoolean(false)
    val url = "http://127.0.0.1:${listener.localPort}"
    val cuts = AtomicInteger()

    /** Bytes relayed towards the server so far. */
    val sent: Long get() = upstreamBytes.get()

    init {
        thread(isDaemon = true, name = "cutting-relay-accept") {
            while (true) {
                val client = try {
                    listener.accept()
                } catch (_: IOException) {
                    break
                }
                val upstream = try {
                    Socket(to.host, to.port)
                } catch (_: IOException) {
                    client.close()
                    continue
                }
                open += client
                open += upstream
                up(client, upstream)
                down(upstream, client)
            }
        }
    }

    /** Client to server, counting; the byte [cutAt] is never delivered on this connection. */
    private fun up(from: Socket, to: Socket) = thread(isDaemon = true, name = "cutting-relay-up") {
        val buf = ByteArray(8192)
        try {
            val input = from.getInputStream()
            val output = to.getOutputStream()
            while (true) {
                val n = input.read(buf)
                if (n < 0) break
                val before = upstreamBytes.getAndAdd(n.toLong())
                if (before + n >= cutAt && cut.compareAndSet(false, true)) {
                    val keep = (cutAt - before - 1).coerceIn(0, n.toLong()).toInt()
                    output.write(buf, 0, keep)
                    output.flush()
                    cuts.incrementAndGet()
                    from.close()
                    to.close()
                    return@thread
                }
                output.write(buf, 0, n)
            }
            to.shutdownOutput()
        } catch (_: IOException) {
            // The other side or close() ended the connection.
        }
    }

    private fun down(from: Socket, to: Socket) = thread(isDaemon = true, name = "cutting-relay-down") {
        try {
            from.getInputStream().copyTo(to.getOutputStream())
            to.shutdownOutput()
        } catch (_: IOException) {
        }
    }

    override fun close() {
        listener.close()
        open.forEach { runCatching { it.close() } }
    }
}
