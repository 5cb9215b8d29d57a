import OutpostKit
import SwiftUI

/// The sync indicator in the navigation bar; a tap asks for a sync now.
struct SyncBadgeView: View {
    @EnvironmentObject var model: AppModel
    @ObservedObject private var sync = SyncService.shared

    var body: some View {
        let b = sync.badge
        Button { model.sync.request(expedited: b.urgent) } label: {
            Text(L(b.state.key) + (b.pending > 0 ? " · \(b.pending)" : ""))
                .font(.caption)
                .foregroundStyle(b.urgent ? alarm : (b.state == .failed ? Color.red : Color.secondary))
        }
    }
}

/// Enrollment: the server's address and an invite code from the grid lead.
struct EnrollView: View {
    @EnvironmentObject var model: AppModel
    @State private var server = "https://"
    @State private var code = ""
    @State private var busy = false
    @State private var error: String?

    var body: some View {
        Form {
            Text(L("enroll_title")).font(.title2)
            Text(L("enroll_hint"))
            TextField(L("enroll_server"), text: $server).textInputAutocapitalization(.never).keyboardType(.URL)
            TextField(L("enroll_code"), text: $code).textInputAutocapitalization(.never)
            if let error { Text(error).foregroundStyle(.red) }
            Button(L("enroll_submit")) {
                busy = true
                Task {
                    do { try await model.sync.enroll(server: server, code: code) } catch { self.error = message(error) }
                    busy = false
                }
            }.disabled(busy)
        }
    }
}
