import OutpostFFI
import OutpostKit
import SwiftUI

private var language: String { Locale.current.language.languageCode?.identifier ?? "en" }

/// Walkthroughs on this device, newest first, and a form to start one in the member's grid.
struct WalkthroughsView: View {
    @EnvironmentObject var model: AppModel
    let home: Home
    let onOpen: (String) -> Void
    @State private var list: [InspectionSummary] = []
    @State private var templates: [Template] = []
    @State private var template: String?
    @State private var site = ""
    @State private var address = ""
    @State private var error: String?

    var body: some View {
        List {
            if home.canInspect, let grid = home.grid {
                SwiftUI.Section(L("walk_start")) {
                    Picker(L("walk_start"), selection: $template) {
                        ForEach(templates, id: \.id) { Text(localized($0.title, $0.titleEn, language: language)).tag(Optional($0.id)) }
                    }
                    TextField(L("walk_site"), text: $site)
                    TextField(L("walk_address"), text: $address)
                    if let error { Text(error).foregroundStyle(.red) }
                    Button(L("walk_begin")) { Task { await start(grid) } }.disabled(template == nil)
                }
            }
            ForEach(list, id: \.id) { s in
                Button { onOpen(s.id) } label: {
                    VStack(alignment: .leading) {
                        Text(s.siteName).font(.headline)
                        Text("\(s.title) · \(L(s.status.key))").font(.caption)
                        Text(L("walk_progress", Int(s.answered), Int(s.total)))
                        if s.failed > 0 { Text(L("walk_hazards", Int(s.failed))).foregroundStyle(alarm) }
                        if s.conflicts > 0 { Text(L("badge_conflicts", Int(s.conflicts))) }
                    }
                }
            }
        }
        .task {
            guard let outpost = model.outpost else { return }
            templates = (try? await outpost.templates()) ?? []
            do { for try await l in outpost.inspections() { list = l } } catch {}
        }
    }

    private func start(_ grid: String) async {
        guard let outpost = model.outpost, let template else { return }
        do {
            let site = Site(name: site, gridId: grid, address: address.isEmpty ? nil : address, location: model.locator.recent())
            onOpen(try await outpost.startInspection(templateId: template, site: site))
        } catch {
            self.error = message(error)
        }
    }
}

/// One walkthrough: progress, every item with its answer buttons, conflicts, submit.
struct WalkthroughView: View {
    @EnvironmentObject var model: AppModel
    let inspectionId: String
    @State private var screen: Walkthrough?
    @State private var error: String?
    @State private var raised: Int?

    var body: some View {
        List {
            if let w = screen {
                VStack(alignment: .leading) {
                    Text(w.inspection.site.name).font(.title2)
                    Text(L("walk_progress", w.answered, w.total))
                    ProgressView(value: w.progress)
                    if !w.conflictItems.isEmpty { Text(L("walk_conflicts", w.conflictItems.count)).foregroundStyle(.red) }
                    if w.submitted { Text(L(w.inspection.status.key)) }
                    if let raised { Text(L("walk_raised", raised)).foregroundStyle(alarm) }
                    if let error { Text(error).foregroundStyle(.red) }
                }
                ForEach(w.items) { row in
                    ItemView(row: row, canAnswer: w.canAnswer) { value, note, photos in
                        Task { await answer(row, value, note, photos) }
                    }
                }
                if w.canSubmit {
                    Button(L("walk_submit")) { Task { await submit() } }.buttonStyle(.borderedProminent)
                }
            }
        }
        .task {
            guard let outpost = model.outpost else { return }
            do { for try await w in outpost.walkthroughScreen(inspectionId) { screen = w } } catch {}
        }
    }

    private func answer(_ row: ItemRow, _ value: AnswerValue, _ note: String, _ photos: [String]) async {
        guard let outpost = model.outpost else { return }
        do {
            try await outpost.answer(inspectionId: inspectionId, itemId: row.item.id, value: value, note: note, photos: photos)
            error = nil
        } catch {
            self.error = message(error)
        }
    }

    private func submit() async {
        guard let outpost = model.outpost else { return }
        do {
            raised = try await outpost.submit(inspectionId: inspectionId).count
            model.sync.request(expedited: false)
        } catch {
            self.error = message(error)
        }
    }
}

private struct ItemView: View {
    @EnvironmentObject var model: AppModel
    let row: ItemRow
    let canAnswer: Bool
    let onAnswer: (AnswerValue, String, [String]) -> Void
    @State private var typed = ""
    @State private var note = ""
    @State private var pendingPhoto: AnswerChoice?

    var body: some View {
        VStack(alignment: .leading, spacing: 4) {
            Text(localized(row.sectionTitle, row.sectionTitleEn, language: language)).font(.caption2)
            Text(localized(row.item.prompt, row.item.promptEn, language: language)).font(.subheadline.bold())
            if let guidance = row.item.guidance { Text(guidance).font(.caption) }
            HStack {
                if row.hazard { BadgeView(text: L("badge_hazard"), color: alarm) }
                if row.conflict { BadgeView(text: L("badge_conflict")) }
                if !row.hazardCases.isEmpty { BadgeView(text: L("walk_case_raised")) }
            }
            ForEach(Array(row.answers.enumerated()), id: \.offset) { i, a in
                let shown = shownValue(a.value)
                Text(i == 0 ? shown : L("walk_other_answer", shown, a.by)).foregroundStyle(i == 0 ? Color.primary : Color.red)
            }
            if canAnswer {
                if row.choices.contains(.number) || row.choices.contains(.text) {
                    TextField(L("walk_value"), text: $typed)
                }
                TextField(L("form_note"), text: $note)
                HStack {
                    ForEach(row.choices, id: \.self) { c in
                        Button(L(c.key) + (row.needsPhoto(c) ? " 📷" : "")) { choose(c) }
                            .buttonStyle(.bordered)
                            .tint(row.winner?.value.choice == c ? Color.accentColor : Color.secondary)
                    }
                }
            }
        }
        .sheet(item: $pendingPhoto) { choice in
            CameraView { image in
                pendingPhoto = nil
                guard let image, let photo = try? model.photos.keep(image), let value = choice.value(typed) else { return }
                onAnswer(value, note, [photo])
            }
        }
    }

    private func shownValue(_ v: AnswerValue) -> String {
        switch v {
        case let .number(n): return String(n)
        case let .text(t): return t
        default: return L(v.choice.key)
        }
    }

    private func choose(_ c: AnswerChoice) {
        guard let value = c.value(typed) else { return }
        if row.needsPhoto(c) { pendingPhoto = c } else { onAnswer(value, note, []) }
    }
}

extension AnswerChoice: Identifiable {
    public var id: String { rawValue }
}
