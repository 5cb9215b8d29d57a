import BackgroundTasks
import Network
import OutpostKit
import UIKit

/// Sync on iOS: at once while the app runs and the network is there (NWPathMonitor says when
/// it returns), and in the background through BGTaskScheduler — an app refresh every 15
/// minutes or so, and a processing task that requires connectivity while something waits to
/// be sent. Core decides what goes first within a sync (life-safety cases).
@MainActor
final class SyncService: ObservableObject {
    static let shared = SyncService()
    static let refreshTask = "app.outpost.sync.refresh"
    static let uploadTask = "app.outpost.sync.upload"

    @Published private(set) var badge = SyncBadge.of(SyncFacts(enrolled: false, online: false))
    private let monitor = NWPathMonitor()
    private var online = false
    private var onlineChanges: AsyncStream<Bool>.Continuation?
    private var running: Task<Bool, Never>?
    private var started = false

    /// Starts watching the network and the sync state; called once the store is open.
    func start() {
        guard !started else { return }
        started = true
        let online = AsyncStream<Bool> { self.onlineChanges = $0 }
        monitor.pathUpdateHandler = { path in
            Task { @MainActor in SyncService.shared.networkChanged(path.status == .satisfied) }
        }
        monitor.start(queue: DispatchQueue(label: "outpost-network-monitor"))
        Task {
            guard let outpost = try? await Session.shared.outpost() else { return }
            do { for try await b in outpost.syncBadges(online: online) { badge = b } } catch {}
        }
    }

    private func networkChanged(_ up: Bool) {
        let returned = up && !online
        online = up
        onlineChanges?.yield(up)
        if returned && badge.pending > 0 { request(expedited: badge.urgent) }
    }

    /// Asks for a sync: now if the network is up; otherwise when it returns (the monitor) or
    /// when the system grants background time with connectivity. iOS has no expedited
    /// background work: an urgent request also asks for a little time if the app leaves the
    /// foreground mid-sync.
    func request(expedited: Bool) {
        guard online else {
            scheduleBackground()
            return
        }
        Task { _ = await syncNow(keepAlive: expedited) }
    }

    /// One sync at a time; a request during a sync is covered by the next one.
    @discardableResult
    func syncNow(keepAlive: Bool = true) async -> Bool {
        if let running { return await running.value }
        let task = Task<Bool, Never> {
            let background = keepAlive ? UIApplication.shared.beginBackgroundTask(withName: "outpost-sync") : .invalid
            defer { if background != .invalid { UIApplication.shared.endBackgroundTask(background) } }
            do {
                try await Session.shared.outpost().syncNow()
                return true
            } catch {
                return false // the indicator shows the core's last error
            }
        }
        running = task
        let ok = await task.value
        running = nil
        return ok
    }

    /// Enrolls this phone with an invite code from the grid lead, then syncs.
    func enroll(server: String, code: String) async throws {
        let outpost = try await Session.shared.outpost()
        try await outpost.enroll(
            serverUrl: server.trimmingCharacters(in: .whitespacesAndNewlines),
            code: code.trimmingCharacters(in: .whitespacesAndNewlines),
            deviceName: UIDevice.current.name
        )
        request(expedited: false)
    }

    // MARK: background

    /// Registers the handlers; must run before the app finishes launching.
    nonisolated static func registerBackgroundTasks() {
        for id in [refreshTask, uploadTask] {
            BGTaskScheduler.shared.register(forTaskWithIdentifier: id, using: nil) { task in
                Task { @MainActor in SyncService.shared.run(task) }
            }
        }
    }

    func scheduleBackground() {
        let refresh = BGAppRefreshTaskRequest(identifier: Self.refreshTask)
        refresh.earliestBeginDate = Date(timeIntervalSinceNow: TimeInterval(SyncPolicy.periodicMinutes * 60))
        try? BGTaskScheduler.shared.submit(refresh)
        if badge.pending > 0 {
            let upload = BGProcessingTaskRequest(identifier: Self.uploadTask)
            upload.requiresNetworkConnectivity = true
            try? BGTaskScheduler.shared.submit(upload)
        }
    }

    private func run(_ task: BGTask) {
        let work = Task {
            let ok = await syncNow(keepAlive: false)
            scheduleBackground()
            task.setTaskCompleted(success: ok)
        }
        task.expirationHandler = { work.cancel() }
    }
}
