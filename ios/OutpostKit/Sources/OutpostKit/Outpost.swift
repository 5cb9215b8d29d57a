import Foundation
import OutpostFFI

/// The app's one door to the Rust core, the Swift twin of `app.outpost.Outpost` in Kotlin:
/// async functions for actions, `AsyncThrowingStream`s for the screens. A thin layer over
/// the generated bindings (module `OutpostFFI`) — all rules live in Rust; this class only
/// moves blocking calls off the main actor and turns the core's "data changed" listener into
/// streams that re-read their list after every write.
///
/// Photos are files: the camera code hands over the path of the file it wrote; core checks
/// it, copies it beside the database under its SHA-256 and records the reference in the
/// action's transaction. Syncs upload them; `fetchPhoto` downloads one this phone does not
/// hold. The device token lives in the app's `TokenStore` (the Keychain), never in the
/// database.
///
/// Failures arrive as the generated `OutpostError` (`.Invalid`, `.Forbidden`,
/// `.WrongState`, `.NotFound`, `.NoMember`, `.PhotoNotOnDevice`, ...), whose message is
/// written for the person holding the phone. Open one per process; the database closes when
/// it is released.
public final class Outpost: @unchecked Sendable {
    let store: Store
    let caseArea: Cases
    let inspectionArea: Inspections
    private let templateArea: Templates
    private let syncArea: Sync
    private let photoArea: Photos

    /// Page size of the lists the streams below show.
    public static let page: Int32 = 100

    private init(store: Store) {
        self.store = store
        caseArea = store.cases()
        inspectionArea = store.inspections()
        templateArea = store.templates()
        syncArea = store.sync()
        photoArea = store.photos()
    }

    /// Opens (or creates) the database file at `path`. The app passes its Keychain-backed
    /// `tokens`; without one the device token is kept in `<path>.token`, a file only this
    /// app may read. A token an older version kept in the database moves to `tokens` now.
    ///
    /// The database's directory, and the photo directory beside the database
    /// (`<path>.blobs`), get complete-until-first-user-authentication file protection before
    /// the store opens: files created in them (the database, its WAL, photos, the token
    /// file) inherit it, so background sync can read them after the first unlock while
    /// they stay encrypted from boot until then.
    public static func open(path: String, tokens: TokenStore? = nil) async throws -> Outpost {
        try await offMain {
            try protectUntilFirstUnlock(databasePath: path)
            if let tokens {
                return Outpost(store: try Store.openWithTokenStore(path: path, tokenStore: tokens))
            }
            return Outpost(store: try Store.open(path: path))
        }
    }

    /// Sets `FileProtectionType.completeUntilFirstUserAuthentication` on the database's
    /// directory, the photo directory and the database files that already exist.
    static func protectUntilFirstUnlock(databasePath path: String) throws {
        #if os(iOS)
        let files = FileManager.default
        let database = URL(fileURLWithPath: path)
        let blobs = URL(fileURLWithPath: path + ".blobs", isDirectory: true)
        try files.createDirectory(at: blobs, withIntermediateDirectories: true)
        let protection: [FileAttributeKey: Any] = [.protectionKey: FileProtectionType.completeUntilFirstUserAuthentication]
        for url in [database.deletingLastPathComponent(), blobs] {
            try files.setAttributes(protection, ofItemAtPath: url.path)
        }
        for suffix in ["", "-wal", "-shm", ".token"] where files.fileExists(atPath: path + suffix) {
            try files.setAttributes(protection, ofItemAtPath: path + suffix)
        }
        #endif
    }

    private static func offMain<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await Task.detached(priority: .userInitiated) { try body() }.value
    }

    private func io<T>(_ body: @escaping () throws -> T) async throws -> T {
        try await Self.offMain(body)
    }

    // MARK: who is using the device

    public func member() async throws -> Member? { try await io { try self.store.member() } }

    /// Sets the member locally (until enrollment supplies it from the directory).
    public func setMember(_ member: Member) async throws { try await io { try self.store.setMember(member: member) } }

    // MARK: cases

    /// One-tap "person in distress" flag; saved at once, also without signal or location.
    /// `photo` is the camera's file: checked first, then added to the flag's timeline.
    public func flagPersonInDistress(gridId: String, location: Location? = nil, note: String? = nil, photo: String? = nil) async throws -> String {
        try await io { try self.caseArea.flagPersonInDistress(gridId: gridId, location: location, note: note, photoPath: photo) }
    }

    /// Opens a case with the photos in these files (the camera's), in one transaction. The
    /// case's own `attachments` may name only photos this phone holds (`.PhotoNotOnDevice`).
    @discardableResult
    public func report(_ newCase: NewCase, photos: [String] = []) async throws -> String {
        try await io { try self.caseArea.createWithPhotos(newCase: newCase, photoPaths: photos) }
    }

    /// Adds the photo in this file to a case's timeline; returns its hash.
    @discardableResult
    public func addPhoto(caseId: String, photo: String) async throws -> String {
        try await io { try self.caseArea.addPhoto(id: caseId, photoPath: photo) }
    }

    public func edit(caseId: String, _ edit: CaseEdit) async throws { try await io { try self.caseArea.edit(id: caseId, edit: edit) } }

    /// Records an action on a case (accept, dispatch, progress, resolve, follow-up, ...).
    @discardableResult
    public func record(caseId: String, _ event: EventKind) async throws -> String {
        try await io { try self.caseArea.record(id: caseId, event: event) }
    }

    @discardableResult
    public func accept(caseId: String) async throws -> String { try await record(caseId: caseId, .accepted) }

    @discardableResult
    public func comment(caseId: String, text: String) async throws -> String { try await record(caseId: caseId, .comment(text: text)) }

    public func `case`(_ caseId: String) async throws -> Case { try await io { try self.caseArea.get(id: caseId) } }

    /// Every action on a case for this device's member, in button order: offered, or
    /// withheld with the sentence core's refusal would carry.
    public func actions(_ caseId: String) async throws -> [ActionOffer] { try await io { try self.caseArea.actions(id: caseId) } }

    /// Moves a case to another grid (what core offers administrators as `.move`).
    @discardableResult
    public func moveToGrid(caseId: String, gridId: String) async throws -> String {
        try await io { try self.caseArea.moveToGrid(id: caseId, gridId: gridId) }
    }

    /// Whether this member may flag or report in `gridId`: nil when allowed, else why not.
    public func reportWithheld(gridId: String) async throws -> Withholding? { try await io { try self.store.reportWithheld(grid: gridId) } }

    public func search(_ query: String, limit: Int32 = page) async throws -> [CaseSummary] {
        try await io { try self.caseArea.search(query: query, limit: limit) }
    }

    /// Open cases, most urgent first; re-read after every write.
    public func openQueue(limit: Int32 = page) -> AsyncThrowingStream<[CaseSummary], Error> {
        observe({ !$0.caseIds.isEmpty }) { try self.caseArea.openQueue(limit: limit, offset: 0) }
    }

    /// What this member reported, newest first; re-read after every write.
    public func myReports(limit: Int32 = page) -> AsyncThrowingStream<[CaseSummary], Error> {
        observe({ !$0.caseIds.isEmpty || $0.memberChanged }) { try self.caseArea.myReports(limit: limit, offset: 0) }
    }

    public func overdue(limit: Int32 = page) -> AsyncThrowingStream<[CaseSummary], Error> {
        observe({ !$0.caseIds.isEmpty }) { try self.caseArea.overdue(limit: limit) }
    }

    /// A responder's queue: open cases dispatched to its unit, most urgent first.
    public func unitQueue(limit: Int32 = page) -> AsyncThrowingStream<[CaseSummary], Error> {
        observe({ !$0.caseIds.isEmpty || $0.memberChanged }) { try self.caseArea.unitQueue(limit: limit, offset: 0) }
    }

    /// The rows of one of core's home lists (`homeLists(role:)` says which a role gets).
    public func homeList(_ list: HomeList, limit: Int32 = page) -> AsyncThrowingStream<HomeRows, Error> {
        observe({ !$0.caseIds.isEmpty || !$0.inspectionIds.isEmpty || $0.memberChanged }) {
            try self.caseArea.homeList(list: list, limit: limit, offset: 0)
        }
    }

    /// One case, re-read whenever a write touches it.
    public func caseDetail(_ caseId: String) -> AsyncThrowingStream<Case, Error> {
        observe({ $0.caseIds.contains(caseId) }) { try self.caseArea.get(id: caseId) }
    }

    // MARK: checklists

    public func templates() async throws -> [Template] { try await io { try self.templateArea.list() } }

    public func startInspection(templateId: String, site: Site, previousId: String? = nil) async throws -> String {
        try await io { try self.inspectionArea.start(templateId: templateId, site: site, previousId: previousId) }
    }

    /// Answers one item; `photos` are the camera's files. Returns the photos' hashes.
    @discardableResult
    public func answer(inspectionId: String, itemId: String, value: AnswerValue, note: String = "", photos: [String] = []) async throws -> [String] {
        try await io { try self.inspectionArea.answerWithPhotos(inspectionId: inspectionId, itemId: itemId, value: value, note: note, photoPaths: photos) }
    }

    /// Submits a walkthrough; failed items become hazard cases. Runs on the core's own runtime.
    @discardableResult
    public func submit(inspectionId: String) async throws -> [String] {
        try await inspectionArea.submit(inspectionId: inspectionId)
    }

    public func inspection(_ inspectionId: String) async throws -> Inspection {
        try await io { try self.inspectionArea.get(id: inspectionId) }
    }

    /// Whether this member may answer and submit the walkthrough now, and what is missing.
    public func readiness(_ inspectionId: String) async throws -> Readiness { try await io { try self.inspectionArea.readiness(id: inspectionId) } }

    /// How each item of the walkthrough is answered (choices, photo required), in checklist order.
    public func itemRules(_ inspectionId: String) async throws -> [ItemRule] { try await io { try self.inspectionArea.itemRules(id: inspectionId) } }

    /// Whether this member may start a walkthrough in `gridId`: nil when allowed, else why not.
    public func inspectWithheld(gridId: String) async throws -> Withholding? { try await io { try self.store.inspectWithheld(grid: gridId) } }

    /// One walkthrough as it fills in.
    public func inspectionDetail(_ inspectionId: String) -> AsyncThrowingStream<Inspection, Error> {
        observe({ $0.inspectionIds.contains(inspectionId) }) { try self.inspectionArea.get(id: inspectionId) }
    }

    public func inspections(status: InspectionStatus? = nil, limit: Int32 = page) -> AsyncThrowingStream<[InspectionSummary], Error> {
        observe({ !$0.inspectionIds.isEmpty }) { try self.inspectionArea.list(status: status, limit: limit) }
    }

    // MARK: photos

    /// The file of a photo this phone holds, or nil if it must be fetched (`fetchPhoto`).
    public func photoPath(_ hash: String) async throws -> String? { try await io { try self.photoArea.path(hash: hash) } }

    /// The file of photo `hash`, downloaded if this phone does not hold it: resumed where an
    /// earlier try stopped, checked against its hash before it appears.
    public func fetchPhoto(_ hash: String) async throws -> String { try await photoArea.fetch(hash: hash) }

    public func photoInfo(_ hash: String) async throws -> PhotoInfo? { try await io { try self.photoArea.info(hash: hash) } }

    /// Photos not yet on the server, in upload order (life-safety first).
    public func waitingPhotos() async throws -> [PhotoInfo] { try await io { try self.photoArea.waiting() } }

    public func photoUsage() async throws -> PhotoUsage { try await io { try self.photoArea.usage() } }

    /// Bytes of uploaded and fetched photos to keep; photos not yet uploaded are never evicted.
    public func setPhotoCacheLimit(_ bytes: Int64) async throws { try await photoArea.setCacheLimit(bytes: bytes) }

    /// Photo listeners registered now (each running photo stream holds one); for debugging.
    public var photoListenerCount: Int { Int(photoArea.listenerCount()) }

    /// Upload progress during syncs and every download's progress.
    public var photoEvents: AsyncStream<PhotoEvent> {
        AsyncStream { continuation in
            let subscription = photoArea.subscribe(listener: PhotoEvents { continuation.yield($0) })
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    // MARK: enrollment and sync
    //
    // Network calls are async Rust functions on the core's own runtime. Failures are
    // OutpostError.NotEnrolled, Unauthorized, Network, Rejected, Server, Protocol (or Invalid
    // for a malformed address or an empty code).

    /// Trades an invite code for this device's token; the member, grids, units and templates
    /// come from the server's directory. Data listeners hear that the member changed.
    @discardableResult
    public func enroll(serverUrl: String, code: String, deviceName: String) async throws -> Enrollment {
        try await syncArea.enroll(serverUrl: serverUrl, code: code, deviceName: deviceName)
    }

    /// Pushes what is saved here (life-safety cases first) and pulls what changed in this
    /// member's scope. The screens' streams re-read what the sync changed.
    @discardableResult
    public func syncNow() async throws -> SyncReport { try await syncArea.sync() }

    @discardableResult
    public func refreshDirectory() async throws -> Directory { try await syncArea.refreshDirectory() }

    /// Where this device stands with the server (the token is not included).
    public func syncState() async throws -> SyncState { try await io { try self.syncArea.state() } }

    /// The directory last received from the server; nil before enrollment.
    public func directory() async throws -> Directory? { try await io { try self.syncArea.directory() } }

    /// Time limits and retries for the network calls that follow.
    public var syncOptions: SyncOptions { syncArea.options() }

    /// Sets `syncOptions`; a bad value throws `Invalid` and keeps the previous ones.
    public func setSyncOptions(_ options: SyncOptions) throws { try syncArea.setOptions(options: options) }

    /// Sync listeners registered now (each running sync stream holds one); for debugging.
    public var syncListenerCount: Int { Int(syncArea.listenerCount()) }

    /// Every sync's events: started, progress after each round trip, finished or failed.
    public var syncEvents: AsyncStream<SyncEvent> {
        AsyncStream { continuation in
            let subscription = syncArea.subscribe(listener: SyncEvents { continuation.yield($0) })
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    /// The sync state, re-read after every write and at the end of every sync.
    public var syncStatus: AsyncThrowingStream<SyncState, Error> {
        AsyncThrowingStream { continuation in
            var poke: AsyncStream<Void>.Continuation!
            let signals = AsyncStream<Void>(bufferingPolicy: .bufferingNewest(1)) { poke = $0 }
            let onSync = syncArea.subscribe(listener: SyncEvents { event in
                switch event {
                case .finished, .failed: poke.yield()
                case .started, .progress: break
                }
            })
            let onWrite = store.subscribe(listener: Listener { _ in poke.yield() })
            poke.yield()
            let reader = Task.detached(priority: .userInitiated) {
                var last: SyncState?
                for await _ in signals {
                    do {
                        let state = try self.syncArea.state()
                        if state != last {
                            last = state
                            continuation.yield(state)
                        }
                    } catch {
                        continuation.finish(throwing: error)
                        return
                    }
                }
            }
            continuation.onTermination = { _ in
                onSync.cancel()
                onWrite.cancel()
                poke.finish()
                reader.cancel()
            }
        }
    }

    // MARK: the store

    /// Listeners registered on the store now (each running stream holds one); for debugging.
    public var listenerCount: Int { Int(store.listenerCount()) }

    /// SQLite's full integrity check (async in Rust).
    public func checkIntegrity() async throws { try await store.checkIntegrity() }

    /// Every write through this store as it commits, while the stream is iterated.
    public var changes: AsyncStream<DataChange> {
        AsyncStream { continuation in
            let subscription = store.subscribe(listener: Listener { continuation.yield($0) })
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    /// Reads once, then again after each relevant write. The listener is registered before
    /// the first read, so no write between the two is missed; bursts of writes are
    /// coalesced into one re-read, and an unchanged result is not repeated.
    private func observe<T: Equatable>(_ relevant: @escaping (DataChange) -> Bool, _ read: @escaping () throws -> T) -> AsyncThrowingStream<T, Error> {
        watch(relevant, read)
    }

    /// `observe` for the screens' streams (Screens.swift), which read core's data and its answers together.
    func watch<T: Equatable>(_ relevant: @escaping (DataChange) -> Bool, _ read: @escaping () throws -> T) -> AsyncThrowingStream<T, Error> {
        AsyncThrowingStream { continuation in
            var poke: AsyncStream<Void>.Continuation!
            let signals = AsyncStream<Void>(bufferingPolicy: .bufferingNewest(1)) { poke = $0 }
            let subscription = store.subscribe(listener: Listener { if relevant($0) { poke.yield() } })
            poke.yield()
            let reader = Task.detached(priority: .userInitiated) {
                var last: T?
                for await _ in signals {
                    do {
                        let value = try read()
                        if value != last {
                            last = value
                            continuation.yield(value)
                        }
                    } catch {
                        continuation.finish(throwing: error)
                        return
                    }
                }
            }
            continuation.onTermination = { _ in
                subscription.cancel()
                poke.finish()
                reader.cancel()
            }
        }
    }
}

/// Adapts a closure to the generated listener protocol. Called on the writing thread: it
/// only hands the change on.
private final class Listener: DataListener, @unchecked Sendable {
    private let handler: (DataChange) -> Void

    init(_ handler: @escaping (DataChange) -> Void) { self.handler = handler }

    func onChange(change: DataChange) throws { handler(change) }
}

/// Adapts a closure to the generated photo listener protocol.
private final class PhotoEvents: PhotoListener, @unchecked Sendable {
    private let handler: (PhotoEvent) -> Void

    init(_ handler: @escaping (PhotoEvent) -> Void) { self.handler = handler }

    func onPhoto(event: PhotoEvent) throws { handler(event) }
}

/// Adapts a closure to the generated sync listener protocol.
private final class SyncEvents: SyncListener, @unchecked Sendable {
    private let handler: (SyncEvent) -> Void

    init(_ handler: @escaping (SyncEvent) -> Void) { self.handler = handler }

    func onEvent(event: SyncEvent) throws { handler(event) }
}
