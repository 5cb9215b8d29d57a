package app.outpost.android.sync

import app.outpost.ffi.OutpostException

/*
 * The background sync's decisions, in plain Kotlin so that they are tested on the JVM
 * (android/screens' SyncPlanTest) against the real exceptions the bindings throw; the
 * WorkManager calls around them are in SyncController and SyncWorker.
 */

/** What one background sync came to, for WorkManager's Result. */
enum class SyncOutcome {
    DONE,

    /** A failure that may pass (no network, server busy): WorkManager retries with backoff. */
    RETRY,

    /** Not enrolled, token revoked, refused: retrying cannot help; the indicator says why. */
    GIVE_UP,
    ;

    companion object {
        /** Runs [sync]; a failure that is not an [OutpostException] is a bug and is thrown. */
        suspend fun of(sync: suspend () -> Unit): SyncOutcome = try {
            sync()
            DONE
        } catch (e: OutpostException.Network) {
            RETRY
        } catch (e: OutpostException.Server) {
            RETRY
        } catch (e: OutpostException) {
            GIVE_UP
        }
    }
}

/**
 * The unique work one sync request enqueues. Every request waits for a connected network;
 * a queued ordinary sync covers every write before it runs (keep it), while an expedited one
 * (after a life-safety write) replaces whatever waits under its name so it runs at once.
 */
data class SyncRequestPlan(val uniqueName: String, val replaceExisting: Boolean, val expedited: Boolean) {
    companion object {
        const val SOON = "sync"
        const val URGENT = "sync-urgent"
        const val PERIODIC = "sync-periodic"

        /** Seconds of the first retry; WorkManager doubles it after each failure. */
        const val BACKOFF_SECONDS = 30L

        fun of(expedited: Boolean) = SyncRequestPlan(
            uniqueName = if (expedited) URGENT else SOON,
            replaceExisting = expedited,
            expedited = expedited,
        )
    }
}
