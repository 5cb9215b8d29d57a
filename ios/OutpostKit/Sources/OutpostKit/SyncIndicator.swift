import Foundation
import OutpostFFI

// The sync indicator and when background sync is expedited: a port of SyncIndicator.kt.

/// What the shell knows about sync at a moment: the core's sync state and NWPathMonitor.
public struct SyncFacts: Equatable, Sendable {
    public var enrolled: Bool
    public var online: Bool
    public var running = false
    /// Documents with changes the server has not acknowledged.
    public var pending = 0
    /// Of those, life-safety cases.
    public var pendingLifeSafety = 0
    public var lastAttemptAt: Int64?
    public var lastSuccessAt: Int64?
    public var lastError: String?

    public init(enrolled: Bool, online: Bool, running: Bool = false, pending: Int = 0, pendingLifeSafety: Int = 0,
                lastAttemptAt: Int64? = nil, lastSuccessAt: Int64? = nil, lastError: String? = nil) {
        self.enrolled = enrolled
        self.online = online
        self.running = running
        self.pending = pending
        self.pendingLifeSafety = pendingLifeSafety
        self.lastAttemptAt = lastAttemptAt
        self.lastSuccessAt = lastSuccessAt
        self.lastError = lastError
    }

    public static func of(_ state: SyncState, online: Bool, running: Bool = false) -> SyncFacts {
        SyncFacts(
            enrolled: state.enrolled, online: online, running: running,
            pending: Int(state.unsentDocs), pendingLifeSafety: Int(state.unsentLifeSafety),
            lastAttemptAt: state.lastAttemptAt, lastSuccessAt: state.lastSuccessAt, lastError: state.lastError
        )
    }
}

/// The sync indicator in the top bar.
public enum SyncIndicator: String, CaseIterable, Sendable {
    case notEnrolled = "not_enrolled"
    case syncing
    case offline
    case failed
    case pending
    case upToDate = "up_to_date"

    public var key: String { "sync_" + rawValue }
}

public struct SyncBadge: Equatable, Sendable {
    public var state: SyncIndicator
    public var pending: Int
    /// A life-safety case is among the unsent: drawn in the alarm colour.
    public var urgent: Bool
    public var lastSuccessAt: Int64?
    public var error: String?

    public static func of(_ f: SyncFacts) -> SyncBadge {
        var failed = false
        if f.lastError != nil, let attempt = f.lastAttemptAt {
            failed = f.lastSuccessAt.map { attempt > $0 } ?? true
        }
        let state: SyncIndicator
        if !f.enrolled {
            state = .notEnrolled
        } else if f.running {
            state = .syncing
        } else if !f.online {
            state = .offline
        } else if failed {
            state = .failed
        } else if f.pending > 0 {
            state = .pending
        } else {
            state = .upToDate
        }
        return SyncBadge(
            state: state, pending: f.pending, urgent: f.pendingLifeSafety > 0,
            lastSuccessAt: f.lastSuccessAt, error: state == .failed ? f.lastError : nil
        )
    }
}

/// When the app schedules background sync (BGTaskScheduler) and asks for it at once.
public enum SyncPolicy {
    /// A write of this urgency asks for a sync as soon as any network exists.
    public static func expedite(_ urgency: Urgency) -> Bool { urgency == .lifeSafety }

    /// A sync waiting for the network is expedited while a life-safety case is unsent.
    public static func expedite(_ f: SyncFacts) -> Bool { f.enrolled && f.pendingLifeSafety > 0 }

    /// Earliest start of the periodic background refresh, in minutes.
    public static let periodicMinutes = 15
}

extension Outpost {
    /// The sync indicator as it changes: the core's sync state (re-read after every write and
    /// every sync), whether a sync runs now (its events), and `online` from NWPathMonitor.
    public func syncBadges(online: AsyncStream<Bool>) -> AsyncThrowingStream<SyncBadge, Error> {
        AsyncThrowingStream { continuation in
            let latest = Latest()
            func emit() async {
                guard let state = await latest.state else { return }
                let badge = SyncBadge.of(SyncFacts.of(state, online: await latest.online, running: await latest.running))
                if await latest.changed(badge) { continuation.yield(badge) }
            }
            let tasks = [
                Task {
                    do {
                        for try await state in self.syncStatus { await latest.set(state: state); await emit() }
                    } catch {
                        continuation.finish(throwing: error)
                    }
                },
                Task {
                    for await event in self.syncEvents {
                        switch event {
                        case .started, .progress: await latest.set(running: true)
                        case .finished, .failed: await latest.set(running: false)
                        }
                        await emit()
                    }
                },
                Task {
                    for await up in online { await latest.set(online: up); await emit() }
                },
            ]
            continuation.onTermination = { _ in tasks.forEach { $0.cancel() } }
        }
    }
}

/// The latest of the three inputs of the sync indicator.
private actor Latest {
    var state: SyncState?
    var online = false
    var running = false
    private var last: SyncBadge?

    func set(state: SyncState) { self.state = state }
    func set(online: Bool) { self.online = online }
    func set(running: Bool) { self.running = running }

    func changed(_ badge: SyncBadge) -> Bool {
        defer { last = badge }
        return badge != last
    }
}
