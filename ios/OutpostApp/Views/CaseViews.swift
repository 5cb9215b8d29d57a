import OutpostFFI
import OutpostKit
import SwiftUI

/// "My reports" or one of core's case queues (open cases, overdue, a responder unit's cases).
struct CaseListView: View {
    enum Kind { case mine, queue(HomeList) }

    @EnvironmentObject var model: AppModel
    let kind: Kind
    @State private var rows: [CaseRow]?
    @State private var form: (CaseRow, Action)?

    private var emptyKey: String {
        if case .mine = kind { return "my_reports_empty" }
        return "queue_empty"
    }

    var body: some View {
        Group {
            if let rows, rows.isEmpty {
                Text(L(emptyKey)).padding()
            } else {
                List(rows ?? []) { row in
                    NavigationLink(value: Route.caseDetail(row.id)) { CaseRowView(row: row) { form = (row, $0) } }
                }
            }
        }
        .task {
            guard let outpost = model.outpost else { return }
            let stream: AsyncThrowingStream<[CaseRow], Error>
            switch kind {
            case .mine: stream = outpost.myReportsScreen()
            case let .queue(list): stream = outpost.caseRows(list)
            }
            do { for try await r in stream { rows = r } } catch { rows = [] }
        }
        .sheet(isPresented: Binding(get: { form != nil }, set: { if !$0 { form = nil } })) {
            if let pick = form {
                ActionFormView(caseId: pick.0.id, action: pick.1, urgency: pick.0.summary.urgency) { form = nil }
            }
        }
    }
}

private struct CaseRowView: View {
    let row: CaseRow
    let onAction: (Action) -> Void

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            HStack {
                if row.lifeSafety { BadgeView(text: L(row.urgencyKey), color: alarm) }
                if row.overdue { BadgeView(text: L("badge_overdue"), color: alarm) }
                if row.conflict { BadgeView(text: L("badge_conflict")) }
                Text(L(row.statusKey)).font(.caption)
            }
            Text(row.summary.title).font(.headline)
            Text([L(row.categoryKey), row.summary.address, ago(row.summary.createdAt)].compactMap { $0 }.joined(separator: " · "))
                .font(.caption)
            if !row.quickActions.isEmpty {
                HStack {
                    ForEach(row.quickActions, id: \.self) { a in
                        Button(L(a.key)) { onAction(a) }.buttonStyle(.bordered)
                    }
                }
            }
        }
    }
}

/// One case: status, the reporter's acknowledgement, the timeline with conflicts, the buttons.
struct CaseDetailView: View {
    @EnvironmentObject var model: AppModel
    let caseId: String
    @State private var detail: CaseDetail?
    @State private var form: Action?

    var body: some View {
        List {
            if let d = detail {
                HStack {
                    if d.lifeSafety { BadgeView(text: L(d.urgencyKey), color: alarm) }
                    if d.overdue { BadgeView(text: L("badge_overdue"), color: alarm) }
                    if d.conflicts > 0 { BadgeView(text: L("badge_conflicts", d.conflicts)) }
                    Text(L(d.statusKey)).font(.headline)
                }
                if let ack = d.acknowledgement {
                    Text(L(ack.key)).font(.title3.bold()).padding(.vertical, 8)
                        .listRowBackground(ack == .coming ? Color.accentColor.opacity(0.2) : Color.secondary.opacity(0.1))
                }
                VStack(alignment: .leading, spacing: 4) {
                    Text(d.case.title).font(.title2)
                    Text(L(d.categoryKey)).font(.caption)
                    if !d.case.description.isEmpty { Text(d.case.description) }
                    if let address = d.case.location?.address { Text(address).font(.caption) }
                    if let unit = d.case.assignedUnit { Text(L("assigned_unit", unit)) }
                    if let deadline = d.case.deadline { Text(L("deadline", dateTime(deadline))) }
                    if !d.case.attachments.isEmpty { Text(L("photo_count", d.case.attachments.count)) }
                }
                if !d.actions.isEmpty {
                    ScrollView(.horizontal) {
                        HStack { ForEach(d.actions, id: \.self) { a in Button(L(a.key)) { form = a }.buttonStyle(.bordered) } }
                    }
                }
                SwiftUI.Section(L("timeline")) {
                    ForEach(d.timeline) { TimelineRowView(row: $0) }
                }
            }
        }
        .task {
            guard let outpost = model.outpost else { return }
            do { for try await d in outpost.caseScreen(caseId) { detail = d } } catch {}
        }
        .sheet(item: Binding(get: { form.map(ActionBox.init) }, set: { form = $0?.action })) { box in
            ActionFormView(caseId: caseId, action: box.action, urgency: detail?.case.urgency ?? .normal) { form = nil }
        }
    }
}

private struct ActionBox: Identifiable {
    let action: Action
    var id: String { action.key }
}

private struct TimelineRowView: View {
    let row: TimelineRow

    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            HStack {
                Text(L(row.key)).font(.subheadline.bold())
                Text("· \(row.mine ? L("by_me") : row.entry.author) · \(dateTime(row.entry.at))").font(.caption)
            }
            if let text = row.text { Text(text) }
            if let deadline = row.deadline { Text(L("deadline", dateTime(deadline))).font(.caption) }
            if let s = row.satisfaction { Text(L("satisfaction", s)) }
            if let conflict = row.conflict { Text(L("conflict_marker", conflict)).font(.caption).foregroundStyle(.red) }
        }
    }
}

/// Collects what an action needs (its `ActionForm`) and performs it; core checks it again and
/// a refusal is shown with core's message.
struct ActionFormView: View {
    @EnvironmentObject var model: AppModel
    let caseId: String
    let action: Action
    let urgency: Urgency
    let onDone: () -> Void
    @State private var text = ""
    @State private var unit = ""
    @State private var days = 3
    @State private var satisfaction = 5
    @State private var units: [ResponderUnit] = []
    @State private var error: String?

    var body: some View {
        if action.form == .photo {
            CameraView { image in
                guard let image, let photo = try? model.photos.keep(image) else { return onDone() }
                Task { await submit(ActionInput(photo: photo)) }
            }
        } else {
            NavigationStack {
                Form {
                    if action.form == .dispatch {
                        if !units.isEmpty {
                            Picker(L("form_unit"), selection: $unit) {
                                ForEach(units, id: \.id) { Text($0.name).tag($0.id) }
                            }
                        }
                        TextField(L("form_unit"), text: $unit)
                        Picker(L("form_deadline_days"), selection: $days) {
                            ForEach([1, 3, 7, 15], id: \.self) { Text(L("days", $0)).tag($0) }
                        }
                    }
                    if action.form == .followUp {
                        Picker(L("form_satisfaction"), selection: $satisfaction) {
                            ForEach(1...5, id: \.self) { Text("\($0)").tag($0) }
                        }.pickerStyle(.segmented)
                    }
                    if let hint {
                        TextField(hint, text: $text, axis: .vertical).lineLimit(2...6)
                    }
                    if let error { Text(error).foregroundStyle(.red) }
                }
                .navigationTitle(L(action.key))
                .task { units = (try? await model.outpost?.directory())?.units ?? [] }
                .toolbar {
                    ToolbarItem(placement: .cancellationAction) { Button(L("cancel"), action: onDone) }
                    ToolbarItem(placement: .confirmationAction) {
                        Button(L("confirm")) {
                            let now = nowMs()
                            Task {
                                await submit(ActionInput(
                                    text: text, unitId: unit, deadline: now + Int64(days) * 86_400_000,
                                    satisfaction: satisfaction, visitedAt: now, edit: CaseEdit(description: text), gridId: text
                                ))
                            }
                        }
                    }
                }
            }
        }
    }

    private var hint: String? {
        switch action.form {
        case .note, .followUp: return L("form_note")
        case .reason: return L("form_reason")
        case .comment: return L("form_comment")
        case .edit: return L("form_edit_description")
        case .move: return L("form_grid")
        case .none, .dispatch, .photo: return nil
        }
    }

    private func submit(_ input: ActionInput) async {
        guard let outpost = model.outpost else { return }
        do {
            try await outpost.perform(caseId: caseId, action, input)
            model.sync.request(expedited: SyncPolicy.expedite(urgency))
            onDone()
        } catch {
            self.error = message(error)
        }
    }
}
