import OutpostKit
import SwiftUI

/// The sync indicator in the navigation bar (the shared screens' SyncBar); a tap opens the sync state.
struct SyncBadgeView: View {
    @ObservedObject private var sync = SyncService.shared

    var body: some View {
        let b = sync.badge
        NavigationLink(value: Route.sync) {
            Text(L(b.state.key) + (b.pending > 0 ? " · \(b.pending)" : ""))
                .font(.caption)
                .foregroundStyle(b.urgent ? alarm : (b.state == .failed ? Color.red : Color.secondary))
        }
    }
}

/// Where this phone stands with the server (the shared screens' SyncScreen): the state, what
/// waits, the last success, core's last error, and a button to sync now.
struct SyncStateView: View {
    @EnvironmentObject var model: AppModel
    @ObservedObject private var sync = SyncService.shared

    var body: some View {
        let b = sync.badge
        Form {
            Text(L(b.state.key)).font(.title2).foregroundStyle(b.urgent ? alarm : Color.primary)
            Text(L("pending_changes", b.pending))
            if b.urgent { Text(L("urgent_waiting")).foregroundStyle(alarm) }
            if let last = b.lastSuccessAt { Text(L("last_synced", dateTime(last))) } else { Text(L("never_synced")) }
            if let error = b.error { Text(L("last_error", error)).foregroundStyle(.red) }
            if b.state != .notEnrolled {
                Button(L("send_now")) { model.sync.request(expedited: b.urgent) }
            }
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
