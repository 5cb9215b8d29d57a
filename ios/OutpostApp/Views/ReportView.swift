import OutpostFFI
import OutpostKit
import SwiftUI

/// The report form: category, urgency, photo from the camera, note, location.
struct ReportView: View {
    @EnvironmentObject var model: AppModel
    @Environment(\.dismiss) private var dismiss
    let home: Home
    let onSaved: (String) -> Void
    @State private var draft = ReportDraft()
    @State private var locating = true
    @State private var camera = false
    @State private var error: String?

    var body: some View {
        Form {
            Picker(L("report_category"), selection: Binding(get: { draft.category }, set: { draft = draft.withCategory($0) })) {
                ForEach(Category.all, id: \.self) { Text(L($0.key)).tag($0) }
            }
            Picker(L("report_urgency"), selection: $draft.urgency) {
                ForEach(Urgency.all, id: \.self) { Text(L($0.key)).tag($0) }
            }
            TextField(L("report_note"), text: $draft.note, axis: .vertical).lineLimit(3...8)
            Button(L("take_photo")) { camera = true }
            if !draft.photos.isEmpty { Text(L("photo_count", draft.photos.count)) }
            Text(locationText).font(.footnote)
            if let error { Text(error).foregroundStyle(.red) }
            Button(L("report_submit")) { Task { await save() } }
        }
        .sheet(isPresented: $camera) {
            CameraView { image in
                camera = false
                if let image, let photo = try? model.photos.keep(image) { draft.photos.append(photo) }
            }
        }
        .task {
            draft.location = model.locator.recent()
            if draft.location == nil { draft.location = await model.locator.current() }
            locating = false
        }
    }

    private var locationText: String {
        if locating { return L("location_searching") }
        guard let l = draft.location else { return L("location_none") }
        return L("location_fix", l.lat, l.lon)
    }

    private func save() async {
        guard let outpost = model.outpost, let grid = home.grid else { return }
        do {
            let id = try await outpost.report(draft, gridId: grid, fallbackTitle: L(draft.category.key))
            model.sync.request(expedited: SyncPolicy.expedite(draft.urgency))
            dismiss()
            onSaved(id)
        } catch {
            self.error = message(error)
        }
    }
}
