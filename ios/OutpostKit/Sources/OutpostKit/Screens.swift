import Foundation
import OutpostFFI

// What each screen shows for a state: a port of Screens.kt in android/outpost-kotlin (same
// names, same decisions). Text comes as keys into Localizable.strings, the same keys as the
// Android string resources.

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
        case .unknown: return "event_unknown"
        }
    }
}

/// Chinese or English text of a checklist template, by the app's language.
public func localized(_ zh: String, _ en: String, language: String) -> String {
    language.hasPrefix("zh") || en.trimmingCharacters(in: .whitespaces).isEmpty ? zh : en
}

// MARK: home

public enum Tab: String, CaseIterable, Sendable {
    case home
    case myReports = "my_reports"
    case queue, walkthroughs

    public var key: String { "tab_" + rawValue }
}

/// The home screen and the tabs a member gets (see Home in Screens.kt).
public struct Home: Equatable {
    public var member: Member?
    public var grid: String?
    public var canFlag: Bool
    public var canReport: Bool
    public var canInspect: Bool
    public var tabs: [Tab]

    public static func of(_ member: Member?) -> Home {
        let grid = member?.grids.first
        let canReport = grid.map { Rules.canReport(member, $0) } ?? false
        let tabs: [Tab]
        switch member?.role {
        case nil: tabs = []
        case .courier: tabs = [.home, .myReports]
        case .gridMember: tabs = [.home, .myReports, .walkthroughs, .queue]
        case .gridLead, .admin: tabs = [.home, .queue, .walkthroughs, .myReports]
        case .responder: tabs = [.queue]
        }
        return Home(
            member: member,
            grid: grid,
            canFlag: canReport,
            canReport: canReport,
            canInspect: grid.map { Rules.canInspect(member, $0) } ?? false,
            tabs: tabs
        )
    }
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
        if !c.status.isOpen { return .handled }
        return c.acknowledged ? .coming : .waiting
    }
}

/// One timeline row: what happened, its text, and why it no longer fits if it does not.
public struct TimelineRow: Equatable, Identifiable {
    public var entry: TimelineEntry
    public var key: String
    public var text: String?
    public var photo: String?
    public var deadline: Int64?
    public var satisfaction: Int?
    public var conflict: String?
    public var mine: Bool

    public var id: String { entry.id }

    public static func of(_ entry: TimelineEntry, me: Member?) -> TimelineRow {
        var text: String?
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
        case let .edited(fields): text = fields
        case let .unknown(name): text = name
        case .created, .accepted: break
        }
        if let t = text, t.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { text = nil }
        return TimelineRow(
            entry: entry, key: entry.kind.key, text: text, photo: photo, deadline: deadline,
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
    public var actions: [CaseAction]

    public static func of(_ c: Case, me: Member?) -> CaseDetail {
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
            actions: Rules.actions(me, c.facts)
        )
    }
}

// MARK: lists

/// One row of the lead's queue, of "my reports", of a responder's list.
public struct CaseRow: Equatable, Identifiable {
    public var summary: CaseSummary
    public var statusKey: String
    public var urgencyKey: String
    public var categoryKey: String
    public var lifeSafety: Bool
    public var overdue: Bool
    public var conflict: Bool
    /// The buttons on the row itself: accept and dispatch, where offered.
    public var quickActions: [CaseAction]
    public var ageMs: Int64

    public var id: String { summary.id }

    /// Rows in core's order; a responder sees only its unit's cases.
    public static func rows(_ me: Member?, _ cases: [CaseSummary], now: Int64) -> [CaseRow] {
        cases.filter { c in me.map { $0.role != .responder || Rules.inScope($0, c.facts) } ?? true }
            .map { of($0, me: me, now: now) }
    }

    public static func of(_ s: CaseSummary, me: Member?, now: Int64) -> CaseRow {
        CaseRow(
            summary: s,
            statusKey: s.status.key,
            urgencyKey: s.urgency.key,
            categoryKey: s.category.key,
            lifeSafety: s.urgency == .lifeSafety,
            overdue: s.status.isOpen && (s.deadline.map { $0 < now } ?? false),
            conflict: s.conflicts > 0,
            quickActions: Rules.actions(me, s.facts).filter { $0 == .accept || $0 == .dispatch },
            ageMs: max(0, now - s.createdAt)
        )
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
    public var choices: [AnswerChoice]

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

    public var progress: Double { total == 0 ? 1 : Double(answered) / Double(total) }

    public static func of(_ inspection: Inspection, me: Member?) -> Walkthrough {
        let answers = Dictionary(inspection.answers.map { ($0.itemId, $0.answers) }, uniquingKeysWith: { a, _ in a })
        let hazardCases = Dictionary(inspection.hazards.map { ($0.itemId, $0.caseIds) }, uniquingKeysWith: { a, _ in a })
        let failed = Set(inspection.failed)
        let items = inspection.template.sections.flatMap { section in
            section.items.map { item -> ItemRow in
                let given = answers[item.id] ?? []
                return ItemRow(
                    item: item, sectionTitle: section.title, sectionTitleEn: section.titleEn, answers: given,
                    hazard: failed.contains(item.id), conflict: given.count > 1,
                    hazardCases: hazardCases[item.id] ?? [], choices: item.choices
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
            canAnswer: Rules.canAnswer(me, inspection),
            canSubmit: Rules.canSubmit(me, inspection)
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

    public init(text: String = "", unitId: String = "", deadline: Int64 = 0, satisfaction: Int = 0, visitedAt: Int64 = 0, photo: String = "", edit: CaseEdit = CaseEdit()) {
        self.text = text
        self.unitId = unitId
        self.deadline = deadline
        self.satisfaction = satisfaction
        self.visitedAt = visitedAt
        self.photo = photo
        self.edit = edit
    }

    /// The timeline event for `action`. `.edit` is not an event but a `CaseEdit`, and
    /// `.addPhoto` takes a file (`Outpost.addPhoto`), not a hash.
    public func event(_ action: CaseAction) -> EventKind {
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
        case .edit: preconditionFailure("an edit is not a timeline event; use ActionInput.edit")
        }
    }
}

/// Milliseconds since the Unix epoch, as core counts time.
public func nowMs() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

extension Outpost {
    /// Performs one button's action; core checks it again and throws if it no longer applies.
    public func perform(caseId: String, _ action: CaseAction, _ input: ActionInput = ActionInput()) async throws {
        switch action {
        case .edit: try await edit(caseId: caseId, input.edit)
        case .addPhoto: try await addPhoto(caseId: caseId, photo: input.photo)
        default: try await record(caseId: caseId, input.event(action))
        }
    }

    /// Sends the report form: the case and its photo files, in one transaction.
    @discardableResult
    public func report(_ draft: ReportDraft, gridId: String, fallbackTitle: String) async throws -> String {
        try await report(draft.toNewCase(gridId: gridId, fallbackTitle: fallbackTitle), photos: draft.photos)
    }

    public func home() async throws -> Home { Home.of(try await member()) }

    public func caseScreen(_ caseId: String) -> AsyncThrowingStream<CaseDetail, Error> {
        mapped(caseDetail(caseId)) { c, me in CaseDetail.of(c, me: me) }
    }

    public func queueScreen(now: @escaping () -> Int64 = nowMs) -> AsyncThrowingStream<[CaseRow], Error> {
        mapped(openQueue()) { list, me in CaseRow.rows(me, list, now: now()) }
    }

    public func myReportsScreen(now: @escaping () -> Int64 = nowMs) -> AsyncThrowingStream<[CaseRow], Error> {
        mapped(myReports()) { list, me in CaseRow.rows(me, list, now: now()) }
    }

    public func walkthroughScreen(_ inspectionId: String) -> AsyncThrowingStream<Walkthrough, Error> {
        mapped(inspectionDetail(inspectionId)) { i, me in Walkthrough.of(i, me: me) }
    }

    /// Each value of `source`, turned into a screen with the member holding the phone.
    private func mapped<T, S>(_ source: AsyncThrowingStream<T, Error>, _ screen: @escaping (T, Member?) -> S) -> AsyncThrowingStream<S, Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await value in source {
                        continuation.yield(screen(value, try await self.member()))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
