package app.outpost

import app.outpost.ffi.SyncEvent
import app.outpost.ffi.SyncState
import app.outpost.ffi.Urgency
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.combine
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.onStart

/**
 * What the shells know about sync at a moment: the core's sync state (enrolled, what is
 * still unsent, the last attempt and its error) and the platform's network monitor
 * (ConnectivityManager on Android, NWPathMonitor on iOS), plus whether a sync runs now.
 */
data class SyncFacts(
    val enrolled: Boolean,
    val online: Boolean,
    val running: Boolean = false,
    /** Documents with changes the server has not acknowledged. */
    val pending: Int = 0,
    /** Of those, life-safety cases. */
    val pendingLifeSafety: Int = 0,
    val lastAttemptAt: Long? = null,
    val lastSuccessAt: Long? = null,
    val lastError: String? = null,
) {
    companion object {
        fun of(state: SyncState, online: Boolean, running: Boolean = false) = SyncFacts(
            enrolled = state.enrolled,
            online = online,
            running = running,
            pending = state.unsentDocs.toInt(),
            pendingLifeSafety = state.unsentLifeSafety.toInt(),
            lastAttemptAt = state.lastAttemptAt,
            lastSuccessAt = state.lastSuccessAt,
            lastError = state.lastError,
        )
    }
}

/** The sync indicator in the top bar. */
enum class SyncIndicator {
    /** No server yet: everything stays on this phone. */
    NOT_ENROLLED,
    SYNCING,

    /** No network: what is saved waits here and goes first when signal returns. */
    OFFLINE,

    /** The last attempt failed after the last success; [SyncBadge.error] says why. */
    FAILED,

    /** Online, with changes not yet sent (a sync is scheduled). */
    PENDING,
    UP_TO_DATE,
    ;

    val key: String get() = "sync_" + name.lowercase()
}

data class SyncBadge(
    val state: SyncIndicator,
    /** Changes saved here and not yet on the server; shown as a count in every state. */
    val pending: Int,
    /** A life-safety case is among them: the badge is drawn in the alarm colour. */
    val urgent: Boolean,
    val lastSuccessAt: Long?,
    val error: String?,
) {
    companion object {
        fun of(f: SyncFacts): SyncBadge {
            val failed = f.lastError != null && f.lastAttemptAt != null &&
                (f.lastSuccessAt == null || f.lastAttemptAt > f.lastSuccessAt)
            val state = when {
                !f.enrolled -> SyncIndicator.NOT_ENROLLED
                f.running -> SyncIndicator.SYNCING
                !f.online -> SyncIndicator.OFFLINE
                failed -> SyncIndicator.FAILED
                f.pending > 0 -> SyncIndicator.PENDING
                else -> SyncIndicator.UP_TO_DATE
            }
            return SyncBadge(
                state = state,
                pending = f.pending,
                urgent = f.pendingLifeSafety > 0,
                lastSuccessAt = f.lastSuccessAt,
                error = if (state == SyncIndicator.FAILED) f.lastError else null,
            )
        }
    }
}

/** When the shells schedule background sync (WorkManager; BGTaskScheduler). */
object SyncPolicy {
    /** A write of this urgency asks for an expedited sync as soon as any network exists. */
    fun expedite(urgency: Urgency): Boolean = urgency == Urgency.LIFE_SAFETY

    /** A sync waiting for the network is expedited while a life-safety case is unsent. */
    fun expedite(f: SyncFacts): Boolean = f.enrolled && f.pendingLifeSafety > 0

    /** Periodic sync interval while the app is in the background (WorkManager's minimum). */
    const val PERIODIC_MINUTES = 15L
}

/**
 * The sync indicator as it changes: the core's sync state (re-read after every write and
 * every sync), whether a sync runs now (its events), and [online] from the platform.
 */
fun Outpost.syncBadges(online: Flow<Boolean>): Flow<SyncBadge> {
    val running = syncEvents.map { it is SyncEvent.Started || it is SyncEvent.Progress }.onStart { emit(false) }
    return combine(syncStatus, running, online) { state, busy, up -> SyncBadge.of(SyncFacts.of(state, up, busy)) }
        .distinctUntilChanged()
}
