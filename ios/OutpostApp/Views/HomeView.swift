import OutpostFFI
import OutpostKit
import SwiftUI

/// The large "person in distress" button: one tap saves a life-safety flag at once (with the
/// last fix if recent, without if not), asks for a sync, then adds a fresh fix to the case
/// when one arrives and core still lets the reporter edit it.
struct HomeView: View {
    @EnvironmentObject var model: AppModel
    let home: Home
    @State private var flagged: String?
    @State private var error: String?

    var body: some View {
        VStack(spacing: 24) {
            if home.canFlag, let grid = home.grid {
                Button { Task { await flag(grid) } } label: {
                    Text(L("distress_button"))
                        .font(.largeTitle.bold())
                        .frame(maxWidth: .infinity, minHeight: 220)
                }
                .buttonStyle(.borderedProminent)
                .tint(alarm)
                .clipShape(Circle())
                Text(L("distress_hint")).font(.callout).multilineTextAlignment(.center)
            }
            if let id = flagged {
                Text(L("distress_saved")).foregroundStyle(alarm).font(.headline)
                NavigationLink(L("open_case"), value: Route.caseDetail(id))
            }
            if let error { Text(error).foregroundStyle(.red) }
            if home.canReport {
                NavigationLink(L("report_problem"), value: Route.report).buttonStyle(.bordered)
            }
        }
        .padding(24)
        .onAppear { model.locator.askPermission() }
    }

    private func flag(_ grid: String) async {
        guard let outpost = model.outpost else { return }
        do {
            let id = try await outpost.flagPersonInDistress(gridId: grid, location: model.locator.recent())
            flagged = id
            error = nil
            model.sync.request(expedited: SyncPolicy.expedite(.lifeSafety))
            let c = try await outpost.case(id)
            if c.location == nil, try await outpost.actions(id).contains(where: { $0.action == .edit && $0.allowed }), let fix = await model.locator.current() {
                try await outpost.edit(caseId: id, CaseEdit(location: fix))
            }
        } catch {
            self.error = message(error)
        }
    }
}
