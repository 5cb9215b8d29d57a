import OutpostKit
import SwiftUI

/// The places of the app, as the shared screens' Route (android/screens App.kt).
enum Route: Hashable {
    case report
    case caseDetail(String)
    case walkthrough(String)
    case sync
}

/// Waits for the store, then shows enrollment or the member's tabs.
struct RootView: View {
    @EnvironmentObject var model: AppModel

    var body: some View {
        if model.outpost == nil {
            ProgressView()
        } else if model.home.member == nil {
            EnrollView()
        } else {
            MainView(home: model.home)
        }
    }
}

private struct MainView: View {
    let home: Home
    @State private var path = NavigationPath()
    @State private var chosen: OutpostKit.Tab = .home

    var body: some View {
        let tab = home.tabs.contains(chosen) ? chosen : (home.tabs.first ?? .home)
        NavigationStack(path: $path) {
            TabView(selection: Binding(get: { tab }, set: { chosen = $0 })) {
                ForEach(home.tabs, id: \.self) { t in
                    content(t)
                        .tabItem { Label(L(t.key), systemImage: icon(t)) }
                        .tag(t)
                }
            }
            .toolbar { ToolbarItem(placement: .navigationBarTrailing) { SyncBadgeView() } }
            .navigationTitle(L("app_name"))
            .navigationBarTitleDisplayMode(.inline)
            .navigationDestination(for: Route.self) { route in
                switch route {
                case .report: ReportView(home: home) { path.append(Route.caseDetail($0)) }
                case let .caseDetail(id): CaseDetailView(caseId: id)
                case let .walkthrough(id): WalkthroughView(inspectionId: id)
                case .sync: SyncStateView()
                }
            }
        }
    }

    @ViewBuilder
    private func content(_ t: OutpostKit.Tab) -> some View {
        switch t {
        case .home: HomeView(home: home)
        case .myReports: CaseListView(kind: .mine)
        case .openCases: CaseListView(kind: .queue(.openCases))
        case .overdue: CaseListView(kind: .queue(.overdue))
        case .unitQueue: CaseListView(kind: .queue(.unitQueue))
        case .walkthroughs: WalkthroughsView(home: home) { path.append(Route.walkthrough($0)) }
        }
    }

    private func icon(_ t: OutpostKit.Tab) -> String {
        switch t {
        case .home: return "house"
        case .myReports: return "person"
        case .openCases, .unitQueue: return "tray.full"
        case .overdue: return "exclamationmark.triangle"
        case .walkthroughs: return "checklist"
        }
    }
}
