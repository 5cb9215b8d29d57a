package app.outpost.android.sync

import android.content.Context
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
import app.outpost.SyncFacts
import app.outpost.SyncPolicy
import app.outpost.android.platform.onlineFlow
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.launch
import java.util.concurrent.TimeUnit

/**
 * Background sync with WorkManager, as [SyncRequestPlan] decides: every request waits for a
 * connected network (so one made offline runs when the network returns) and is retried with
 * backoff; a request after a life-safety write is expedited. Core decides what goes first
 * within a sync.
 */
class SyncController(private val context: Context, private val opened: Deferred<Outpost>) {
    private val work by lazy { WorkManager.getInstance(context) }
    private val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
    private val connected = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()

    /** Periodic sync, and an expedited one whenever the network returns with a life-safety case waiting. */
    fun start() {
        work.enqueueUniquePeriodicWork(
            SyncRequestPlan.PERIODIC,
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
        val plan = SyncRequestPlan.of(expedited)
        val request = OneTimeWorkRequestBuilder<SyncWorker>()
            .setConstraints(connected)
            .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, SyncRequestPlan.BACKOFF_SECONDS, TimeUnit.SECONDS)
            .apply { if (plan.expedited) setExpedited(OutOfQuotaPolicy.RUN_AS_NON_EXPEDITED_WORK_REQUEST) }
            .build()
        work.enqueueUniqueWork(
            plan.uniqueName,
            if (plan.replaceExisting) ExistingWorkPolicy.REPLACE else ExistingWorkPolicy.KEEP,
            request,
        )
    }

    /** One sync, for [SyncWorker]. */
    suspend fun runOnce(): SyncOutcome = SyncOutcome.of { opened.await().syncNow() }
}
