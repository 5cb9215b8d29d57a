package app.outpost.android.sync

import android.content.Context
import android.os.Build
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.OutOfQuotaPolicy
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import app.outpost.Outpost
import app.outpost.SyncBadge
import app.outpost.SyncFacts
import app.outpost.SyncPolicy
import app.outpost.android.platform.onlineFlow
import app.outpost.ffi.OutpostException
import app.outpost.syncBadges
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.emitAll
import kotlinx.coroutines.launch
import java.util.concurrent.TimeUnit

/**
 * Background sync with WorkManager. Every request waits for a connected network (so one
 * made offline runs when the network returns) and is retried with backoff; a request after
 * a life-safety write is expedited. Core decides what goes first within a sync.
 */
class SyncController(private val context: Context, private val opened: Deferred<Outpost>) {
    private val work by lazy { WorkManager.getInstance(context) }
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val connected = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

    /** Periodic sync, and an expedited one whenever the network returns with a life-safety case waiting. */
    fun start() {
        work.enqueueUniquePeriodicWork(
            PERIODIC,
            ExistingPeriodicWorkPolicy.KEEP,
            PeriodicWorkRequestBuilder<SyncWorker>(SyncPolicy.PERIODIC_MINUTES, TimeUnit.MINUTES).setConstraints(connected).build(),
        )
        scope.launch {
            context.onlineFlow().filter { it }.collect {
                val outpost = opened.await()
                val facts = SyncFacts.of(outpost.syncState(), online = true)
                if (facts.pending > 0) request(expedited = SyncPolicy.expedite(facts))
            }
        }
    }

    fun request(expedited: Boolean) {
        val request = OneTimeWorkRequestBuilder<SyncWorker>()
            .setConstraints(connected)
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
            .apply { if (expedited) setExpedited(OutOfQuotaPolicy.RUN_AS_NON_EXPEDITED_WORK_REQUEST) }
            .build()
        // A queued sync covers every write before it runs; an urgent one replaces it.
        work.enqueueUniqueWork(
            if (expedited) URGENT else SOON,
            if (expedited) ExistingWorkPolicy.REPLACE else ExistingWorkPolicy.KEEP,
            request,
        )
    }

    /** The indicator in the top bar. */
    fun badges(): Flow<SyncBadge> = flow {
        val outpost = opened.await()
        emitAll(outpost.syncBadges(context.onlineFlow()))
    }

    /** One sync, for [SyncWorker]: retried while the failure may pass. */
    suspend fun runOnce(): SyncOutcome = try {
        val outpost = opened.await()
        outpost.syncNow()
        SyncOutcome.DONE
    } catch (e: OutpostException.Network) {
        SyncOutcome.RETRY
    } catch (e: OutpostException.Server) {
        SyncOutcome.RETRY
    } catch (e: OutpostException) {
        SyncOutcome.GIVE_UP // not enrolled, token revoked, refused: the indicator says why
    }

    /** Enrolls this phone with an invite code from the grid lead, then syncs. */
    suspend fun enroll(server: String, code: String) {
        val outpost = opened.await()
        outpost.enroll(server.trim(), code.trim(), "${Build.MANUFACTURER} ${Build.MODEL}")
        request(expedited = false)
    }

    private companion object {
        const val PERIODIC = "sync-periodic"
        const val SOON = "sync"
        const val URGENT = "sync-urgent"
    }
}
