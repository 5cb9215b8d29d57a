import Foundation
import OutpostFFI

// What each screen shows for a state: the twin of Screens.kt in android/outpost-kotlin (same
// names). Which buttons, lists and forms are offered is core's answer (rules as data through
// the bindings), read together with the data it is about. Text comes as keys into
// Localizable.strings, the same keys as the Android string resources.

extension Status {
    public var key: String {
        switch self {
        case .new: return "status_new"
        case .accepted: return "status_accepted"
        case .dispatched: return "status_dispatched"
        case .inProgress: return "status_in_progress"
        case .resolved: return "status_resolved"
        case .closed: return "status_closed"
        case .reopened: return "status_reopened"
        case .cancelled: return "status_cancelled"
        }
    }
}

extension Category {
    public var key: String {
        switch self {
        case .personInDistress: return "category_person_in_distress"
        case .fireHazard: return "category_fire_hazard"
        case .gasHazard: return "category_gas_hazard"
        case .drainageOil: return "category_drainage_oil"
        case .waste: return "category_waste"
        case .illegalConstruction: return "category_illegal_construction"
        case .illegalParking: return "category_illegal_parking"
        case .noise: return "category_noise"
        case .dispute: return "category_dispute"
        case .facilityDamage: return "category_facility_damage"
        case .other: return "category_other"
        }
    }

    /// In the order of core's list (the Kotlin enum's `entries`).
    public static let all: [Category] = [
        .personInDistress, .fireHazard, .gasHazard, .drainageOil, .waste, .illegalConstruction,
        .illegalParking, .noise, .dispute, .facilityDamage, .other,
    ]
}

extension Urgency {
    public var key: String {
        switch self {
        case .lifeSafety: return "urgency_life_safety"
        case .urgent: return "urgency_urgent"
        case .normal: return "urgency_normal"
        case .low: return "urgency_low"
        }
    }

    public static let all: [Urgency] = [.lifeSafety, .urgent, .normal, .low]
}

extension InspectionStatus {
    public var key: String {
        switch self {
        case .inProgress: return "inspection_in_progress"
        case .submitted: return "inspection_submitted"
        }
    }
}

extension EventKind {
    public var key: String {
        switch self {
        case .created: return "event_created"
        case .accepted: return "event_accepted"
        case .dispatched: return "event_dispatched"
        case .progress: return "event_progress"
        case .resolved: return "event_resolved"
        case .followUp: return "event_follow_up"
        case .reopened: return "event_reopened"
        case .cancelled: return "event_cancelled"
        case .comment: return "event_comment"
        case .photoAdded: return "event_photo_added"
        case .edited: return "event_edited"
        case .moved: return "event_moved"
        case .unknown: return "event_unknown"
        }
    }
}

/// Chinese or English text of a checklist template, by the app's language.
public func localized(_ zh: String, _ en: String, language: String) -> String {
    language.hasPrefix("zh") || en.trimmingCharacters(in: .whitespaces).isEmpty ? zh : en
}

// MARK: home

/// A tab of the home screen: the home page itself (flag, report, walkthrough), or one of core's lists.
public enum Tab: String, CaseIterable, Sendable {
    case home
    case myReports = "my_reports"
    case openCases = "open_cases"
    case overdue
    case unitQueue = "unit_queue"
    case walkthroughs

    public var key: String { "tab_" + rawValue }

    public var list: HomeList? {
        switch self {
        case .home: return nil
        case .myReports: return .myReports
        case .openCases: return .openCases
        case .overdue: return .overdue
        case .unitQueue: return .unitQueue
        case .walkthroughs: return .walkthroughs
        }
    }

    public static func of(_ list: HomeList) -> Tab {
        switch list {
        case .myReports: return .myReports
        case .openCases: return .openCases
        case .overdue: return .overdue
        case .unitQueue: return .unitQueue
        case .walkthroughs: return .walkthroughs
        }
    }
}

/// The home screen and the tabs a member gets (see Home in Screens.kt): what core offers in
/// the member's first grid, and core's home lists for the member's role.
public struct Home: Equatable {
    public var member: Member?
    public var grid: String?
    public var canFlag: Bool
    public var canReport: Bool
    public var canInspect: Bool
    /// Why the flag and the report form are not offered, in core's words.
    public var reportWithheld: Withholding?
    /// Why a walkthrough cannot be started, in core's words.
    public var inspectWithheld: Withholding?
    public var lists: [HomeList]

    /// The home page when there is something to start there, then a tab per list.
    public var tabs: [Tab] { (canFlag || canReport || canInspect ? [.home] : []) + lists.map(Tab.of) }

    /// Nobody enrolled: nothing offered.
    public static let empty = Home(member: nil, grid: nil, canFlag: false, canReport: false, canInspect: false, reportWithheld: nil, inspectWithheld: nil, lists: [])
}

// MARK: report form

/// The report form as it is filled in: category, photos (the camera's files), note, location.
public struct ReportDraft: Equatable {
    public static let titleChars = 60

    public var category: Category
    public var urgency: Urgency
    public var note: String
    public var location: Location?
    public var photos: [String]

    public init(category: Category = .other, urgency: Urgency? = nil, note: String = "", location: Location? = nil, photos: [String] = []) {
        self.category = category
        self.urgency = urgency ?? Self.defaultUrgency(category)
        self.note = note
        self.location = location
        self.photos = photos
    }

    /// Picking a category also picks its usual urgency; the reporter may still change it.
    public func withCategory(_ c: Category) -> ReportDraft {
        var d = self
        d.category = c
        d.urgency = Self.defaultUrgency(c)
        return d
    }

    /// The case to create, without its photos (files, which `Outpost.report` takes beside
    /// it); the title is the note's first line, or `fallbackTitle`.
    public func toNewCase(gridId: String, fallbackTitle: String) -> NewCase {
        let trimmed = note.trimmingCharacters(in: .whitespacesAndNewlines)
        let firstLine = String((trimmed.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines).prefix(Self.titleChars))
        return NewCase(
            category: category,
            urgency: urgency,
            title: firstLine.isEmpty ? fallbackTitle : firstLine,
            gridId: gridId,
            description: trimmed,
            location: location,
            attachments: []
        )
    }

    public static func defaultUrgency(_ c: Category) -> Urgency {
        switch c {
        case .personInDistress: return .lifeSafety
        case .fireHazard, .gasHazard: return .urgent
        default: return .normal
        }
    }
}

// MARK: case detail

/// What the reporter is told about their report.
public enum Acknowledgement: String, CaseIterable, Sendable {
    case waiting, coming, handled, withdrawn

    public var key: String { "ack_" + rawValue }

    public static func of(_ c: Case) -> Acknowledgement {
        if c.status == .cancelled { return .withdrawn }
        if c.status == .resolved || c.status == .closed { return .handled }
        return c.acknowledged ? .coming : .waiting
    }
}

/// One timeline row: what happened, its text, and why it no longer fits if it does not.
public struct TimelineRow: Equatable, Identifiable {
    public var entry: TimelineEntry
    public var key: String
    public var text: String?
    /// The corrections of an edit (category and urgency have their own labels).
    public var edit: CaseEdit?
    public var photo: String?
    public var deadline: Int64?
    public var satisfaction: Int?
    public var conflict: String?
    public var mine: Bool

    public var id: String { entry.id }

    public static func of(_ entry: TimelineEntry, me: Member?) -> TimelineRow {
        var text: String?
        var edit: CaseEdit?
        var photo: String?
        var deadline: Int64?
        var satisfaction: Int?
        switch entry.kind {
        case let .dispatched(unitId, due): text = unitId; deadline = due
        case let .progress(note), let .resolved(note): text = note
        case let .followUp(_, score, note): text = note; satisfaction = Int(score)
        case let .reopened(reason), let .cancelled(reason): text = reason
        case let .comment(t): text = t
        case let .photoAdded(hash): photo = hash
        case let .edited(e): edit = e; text = [e.title, e.description].compactMap { $0 }.joined(separator: "\n")
        case let .moved(gridId): text = gridId
        case let .unknown(name): text = name
        case .created, .accepted: break
        }
        if let t = text, t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { text = nil }
        return TimelineRow(
            entry: entry, key: entry.kind.key, text: text, edit: edit, photo: photo, deadline: deadline,
            satisfaction: satisfaction, conflict: entry.conflict, mine: me.map { entry.author == $0.id } ?? false
        )
    }
}

/// The case detail screen for the member holding the phone.
public struct CaseDetail: Equatable {
    public var `case`: Case
    public var statusKey: String
    public var urgencyKey: String
    public var categoryKey: String
    public var lifeSafety: Bool
    /// Shown to the reporter only.
    public var acknowledgement: Acknowledgement?
    public var overdue: Bool
    public var timeline: [TimelineRow]
    public var conflicts: Int
    /// The buttons: the actions core offers this member on this case, in core's order.
    public var actions: [Action]
    /// The actions core withholds, each with its reason.
    public var withheld: [ActionOffer]

    /// `offers` is core's answer for this case and member (`Cases.actions`).
    public static func of(_ c: Case, me: Member?, offers: [ActionOffer]) -> CaseDetail {
        CaseDetail(
            case: c,
            statusKey: c.status.key,
            urgencyKey: c.urgency.key,
            categoryKey: c.category.key,
            lifeSafety: c.urgency == .lifeSafety,
            acknowledgement: me?.id == c.reporterId ? Acknowledgement.of(c) : nil,
            overdue: c.overdue,
            timeline: c.timeline.map { TimelineRow.of($0, me: me) },
            conflicts: Int(c.conflicts),
            actions: offers.allowed,
            withheld: offers.filter { !$0.allowed }
        )
    }
}

// MARK: lists

/// One row of a case list: the open cases, "my reports", the overdue list, a unit's queue.
public struct CaseRow: Equatable, Identifiable {
    public var summary: CaseSummary
    public var statusKey: String
    public var urgencyKey: String
    public var categoryKey: String
    public var lifeSafety: Bool
    /// Still needs someone's work (core's `is_open`).
    public var open: Bool
    /// Open and past its deadline (core's `is_overdue`).
    public var overdue: Bool
    public var conflict: Bool
    /// The buttons on the row itself: accept and dispatch, where core offers them.
    public var quickActions: [Action]
    public var ageMs: Int64

    public var id: String { summary.id }

    /// The actions a row shows as buttons of its own (the rest are on the case screen).
    public static let quick: [Action] = [.accept, .dispatch]

    /// `offers` is core's answer for this row's case and the member (`Cases.actions`).
    public static func of(_ s: CaseSummary, offers: [ActionOffer], now: Int64) -> CaseRow {
        CaseRow(
            summary: s,
            statusKey: s.status.key,
            urgencyKey: s.urgency.key,
            categoryKey: s.category.key,
            lifeSafety: s.urgency == .lifeSafety,
            open: s.isOpen,
            overdue: s.isOverdue,
            conflict: s.conflicts > 0,
            quickActions: offers.allowed.filter { quick.contains($0) },
            ageMs: max(0, now - s.createdAt)
        )
    }
}

/// One of core's home lists as a screen shows it.
public enum ListScreen: Equatable {
    case cases(list: HomeList, rows: [CaseRow])
    case walkthroughs(list: HomeList, rows: [InspectionSummary])

    public var list: HomeList {
        switch self {
        case let .cases(list, _), let .walkthroughs(list, _): return list
        }
    }
}

// MARK: walkthrough

/// One checklist item as the walkthrough shows it.
public struct ItemRow: Equatable, Identifiable {
    public var item: ChecklistItem
    public var sectionTitle: String
    public var sectionTitleEn: String
    /// The winning answer first, then those made concurrently on other phones.
    public var answers: [Answer]
    public var hazard: Bool
    public var conflict: Bool
    public var hazardCases: [String]
    /// How core takes answers to this item.
    public var rule: ItemRule
    /// The answer buttons (`ItemRule.buttons`).
    public var choices: [AnswerChoice]

    /// Whether answering `choice` opens the camera first.
    public func needsPhoto(_ choice: AnswerChoice) -> Bool { rule.needsPhoto(choice) }

    public var id: String { item.id }
    public var answered: Bool { !answers.isEmpty }
    public var winner: Answer? { answers.first }
}

/// The walkthrough screen: progress, the items, conflicts, and whether submit is offered.
public struct Walkthrough: Equatable {
    public var inspection: Inspection
    public var items: [ItemRow]
    public var answered: Int
    public var total: Int
    public var conflictItems: [String]
    public var hazards: Int
    public var submitted: Bool
    public var canAnswer: Bool
    public var canSubmit: Bool
    /// Items still without an answer, in checklist order (core's readiness).
    public var missing: [String]
    /// Why this member may not submit at all, in core's words.
    public var submitWithheld: String?

    public var progress: Double { total == 0 ? 1 : Double(answered) / Double(total) }

    /// `readiness` and `rules` are core's answers for this walkthrough and member.
    public static func of(_ inspection: Inspection, readiness: Readiness, rules: [ItemRule]) -> Walkthrough {
        let byItem = Dictionary(rules.map { ($0.itemId, $0) }, uniquingKeysWith: { a, _ in a })
        let answers = Dictionary(inspection.answers.map { ($0.itemId, $0.answers) }, uniquingKeysWith: { a, _ in a })
        let hazardCases = Dictionary(inspection.hazards.map { ($0.itemId, $0.caseIds) }, uniquingKeysWith: { a, _ in a })
        let failed = Set(inspection.failed)
        let items = inspection.template.sections.flatMap { section in
            section.items.compactMap { item -> ItemRow? in
                // Core gives a rule for every item of the template it read; none: not shown.
                guard let rule = byItem[item.id] else { return nil }
                let given = answers[item.id] ?? []
                return ItemRow(
                    item: item, sectionTitle: section.title, sectionTitleEn: section.titleEn, answers: given,
                    hazard: failed.contains(item.id), conflict: given.count > 1,
                    hazardCases: hazardCases[item.id] ?? [], rule: rule, choices: rule.buttons
                )
            }
        }
        return Walkthrough(
            inspection: inspection,
            items: items,
            answered: items.filter(\.answered).count,
            total: items.count,
            conflictItems: items.filter(\.conflict).map(\.item.id),
            hazards: failed.count,
            submitted: inspection.status == .submitted,
            canAnswer: readiness.canAnswer,
            canSubmit: readiness.canSubmit,
            missing: readiness.missing,
            submitWithheld: readiness.reason
        )
    }
}

// MARK: performing an action

/// What an action's form collected. Only the fields its `ActionForm` asks for are read.
public struct ActionInput: Equatable {
    public var text = ""
    public var unitId = ""
    public var deadline: Int64 = 0
    public var satisfaction = 0
    public var visitedAt: Int64 = 0
    /// The camera's file, for `.addPhoto`.
    public var photo = ""
    public var edit = CaseEdit()
    /// The grid a case moves to, for `.move`.
    public var gridId = ""

    public init(text: String = "", unitId: String = "", deadline: Int64 = 0, satisfaction: Int = 0, visitedAt: Int64 = 0, photo: String = "", edit: CaseEdit = CaseEdit(), gridId: String = "") {
        self.text = text
        self.unitId = unitId
        self.deadline = deadline
        self.satisfaction = satisfaction
        self.visitedAt = visitedAt
        self.photo = photo
        self.edit = edit
        self.gridId = gridId
    }

    /// The timeline event `Outpost.record` takes for `action`. `.edit`, `.addPhoto` (a file)
    /// and `.move` have calls of their own; `Outpost.perform` picks the right one.
    public func event(_ action: Action) -> EventKind {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        switch action {
        case .accept: return .accepted
        case .dispatch: return .dispatched(unitId: unitId.trimmingCharacters(in: .whitespacesAndNewlines), deadline: deadline)
        case .progress: return .progress(note: t)
        case .resolve: return .resolved(note: t)
        case .followUp: return .followUp(visitedAt: visitedAt, satisfaction: Int64(satisfaction), note: t)
        case .reopen: return .reopened(reason: t)
        case .cancel: return .cancelled(reason: t)
        case .comment: return .comment(text: t)
        case .addPhoto: preconditionFailure("a photo comes as a file; use Outpost.addPhoto")
        case .edit: preconditionFailure("an edit is not a timeline event; use Outpost.edit")
        case .move: preconditionFailure("a move has its own call; use Outpost.moveToGrid")
        }
    }
}

/// Milliseconds since the Unix epoch, as core counts time.
public func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

extension Outpost {
    /// Performs one button's action; core checks it again and throws if it no longer applies.
    public func perform(caseId: String, _ action: Action, _ input: ActionInput = ActionInput()) async throws {
        switch action {
        case .edit: try await edit(caseId: caseId, input.edit)
        case .addPhoto: try await addPhoto(caseId: caseId, photo: input.photo)
        case .move: try await moveToGrid(caseId: caseId, gridId: input.gridId.trimmingCharacters(in: .whitespacesAndNewlines))
        default: try await record(caseId: caseId, input.event(action))
        }
    }

    /// Sends the report form: the case and its photo files, in one transaction.
    @discardableResult
    public func report(_ draft: ReportDraft, gridId: String, fallbackTitle: String) async throws -> String {
        try await report(draft.toNewCase(gridId: gridId, fallbackTitle: fallbackTitle), photos: draft.photos)
    }

    /// The home screen: core's answers for the member's first grid and role.
    public func home() async throws -> Home {
        guard let me = try await member() else { return .empty }
        let grid = me.grids.first
        var report: Withholding?
        var inspect: Withholding?
        if let grid {
            report = try await reportWithheld(gridId: grid)
            inspect = try await inspectWithheld(gridId: grid)
        }
        return Home(
            member: me, grid: grid,
            canFlag: grid != nil && report == nil,
            canReport: grid != nil && report == nil,
            canInspect: grid != nil && inspect == nil,
            reportWithheld: report, inspectWithheld: inspect,
            lists: homeLists(role: me.role)
        )
    }

    /// One case with the buttons core offers on it; re-read when the case or the member changes.
    public func caseScreen(_ caseId: String) -> AsyncThrowingStream<CaseDetail, Error> {
        watch({ $0.caseIds.contains(caseId) || $0.memberChanged }) {
            CaseDetail.of(try self.caseArea.get(id: caseId), me: try self.store.member(), offers: try self.caseArea.actions(id: caseId))
        }
    }

    /// One of core's home lists, each case row with core's offers on it.
    public func listScreen(_ list: HomeList, now: @escaping () -> Int64 = nowMs) -> AsyncThrowingStream<ListScreen, Error> {
        watch({ !$0.caseIds.isEmpty || !$0.inspectionIds.isEmpty || $0.memberChanged }) {
            switch try self.caseArea.homeList(list: list, limit: Outpost.page, offset: 0) {
            case let .cases(rows):
                return .cases(list: list, rows: try rows.map { CaseRow.of($0, offers: try self.caseArea.actions(id: $0.id), now: now()) })
            case let .walkthroughs(rows):
                return .walkthroughs(list: list, rows: rows)
            }
        }
    }

    /// The rows of a case list of core's (`.walkthroughs` has none).
    public func caseRows(_ list: HomeList, now: @escaping () -> Int64 = nowMs) -> AsyncThrowingStream<[CaseRow], Error> {
        watch({ !$0.caseIds.isEmpty || $0.memberChanged }) {
            guard case let .cases(rows) = try self.caseArea.homeList(list: list, limit: Outpost.page, offset: 0) else { return [] }
            return try rows.map { CaseRow.of($0, offers: try self.caseArea.actions(id: $0.id), now: now()) }
        }
    }

    public func myReportsScreen(now: @escaping () -> Int64 = nowMs) -> AsyncThrowingStream<[CaseRow], Error> {
        caseRows(.myReports, now: now)
    }

    /// A walkthrough with core's readiness and item rules; re-read when it or the member changes.
    public func walkthroughScreen(_ inspectionId: String) -> AsyncThrowingStream<Walkthrough, Error> {
        watch({ $0.inspectionIds.contains(inspectionId) || $0.memberChanged }) {
            Walkthrough.of(
                try self.inspectionArea.get(id: inspectionId),
                readiness: try self.inspectionArea.readiness(id: inspectionId),
                rules: try self.inspectionArea.itemRules(id: inspectionId)
            )
        }
    }
}
