import OutpostKit
import SwiftUI

@main
struct OutpostApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var phase

    init() {
        // Background tasks must be registered before the app finishes launching.
        SyncService.registerBackgroundTasks()
    }

    var body: some Scene {
        WindowGroup {
            RootView().environmentObject(model)
        }
        .onChange(of: phase) { phase in
            if phase == .background { model.sync.scheduleBackground() }
            if phase == .active { model.sync.request(expedited: false) }
        }
    }
}

/// The one `Outpost` of the process, the member's home screen, and the platform glue.
@MainActor
final class AppModel: ObservableObject {
    @Published private(set) var outpost: Outpost?
    @Published private(set) var home = Home.empty
    @Published private(set) var openError: String?
    let locator = Locator()
    let photos = CameraFiles()
    let sync = SyncService.shared

    init() {
        Task { await start() }
    }

    private func start() async {
        do {
            let opened = try await Session.shared.outpost()
            outpost = opened
            sync.start()
            home = try await opened.home()
            for await change in opened.changes where change.memberChanged {
                if let h = try? await opened.home() { home = h }
            }
        } catch {
            openError = message(error)
        }
    }
}
