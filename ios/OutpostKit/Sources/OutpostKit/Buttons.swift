import Foundation
import OutpostFFI

// Which buttons a screen offers: a line-for-line port of Rules.kt in
// android/outpost-kotlin, which mirrors core's `permit` and `transition`
// (core/src/case/fold.rs), `create_in`, `may_inspect` and `check_answer`, and is held to
// core by the JVM sweep tests (ActionSweepTest, WalkthroughScreenTest). Change both together.

/// One button on a case.
public enum CaseAction: String, CaseIterable, Sendable {
    case accept, dispatch, progress, resolve
    case followUp = "follow_up"
    case reopen, cancel, comment
    case addPhoto = "add_photo"
    case edit

    public var key: String { "action_" + rawValue }

    public var form: ActionForm {
        switch self {
        case .accept: return .none
        case .dispatch: return .dispatch
        case .progress, .resolve: return .note
        case .followUp: return .followUp
        case .reopen, .cancel: return .reason
        case .comment: return .comment
        case .addPhoto: return .photo
        case .edit: return .edit
        }
    }
}

/// What a screen asks for before it performs an action.
public enum ActionForm: Sendable { case none, note, reason, comment, dispatch, followUp, photo, edit }

/// Why an action is not offered, in the order core checks.
public enum Denial: Sendable { case noMember, outOfScope, role, state }

/// The facts about a case that decide who may act on it.
public struct CaseFacts: Equatable, Sendable {
    public var reporterId: String
    public var gridId: String
    public var assignedUnit: String?
    public var status: Status
}

extension Case {
    public var facts: CaseFacts { CaseFacts(reporterId: reporterId, gridId: gridId, assignedUnit: assignedUnit, status: status) }
}

extension CaseSummary {
    public var facts: CaseFacts { CaseFacts(reporterId: reporterId, gridId: gridId, assignedUnit: assignedUnit, status: status) }
}

extension Status {
    /// Still needs someone's work: listed in the open queue, can become overdue.
    public var isOpen: Bool { self != .resolved && self != .closed && self != .cancelled }
}

public enum Rules {
    /// The actions `member` is offered on a case, in button order.
    public static func actions(_ member: Member?, _ facts: CaseFacts) -> [CaseAction] {
        CaseAction.allCases.filter { denial(member, facts, $0) == nil }
    }

    public static func allows(_ member: Member?, _ facts: CaseFacts, _ action: CaseAction) -> Bool {
        denial(member, facts, action) == nil
    }

    /// Why core would refuse `action`: `.outOfScope` and `.role` come back as `Forbidden`,
    /// `.state` as `WrongState`, `.noMember` as `NoMember`.
    public static func denial(_ member: Member?, _ facts: CaseFacts, _ action: CaseAction) -> Denial? {
        guard let member else { return .noMember }
        if !inScope(member, facts) { return .outOfScope }
        if !roleAllows(member.role, facts.status, action) { return .role }
        if !fits(facts.status, action) { return .state }
        return nil
    }

    /// Who may act on a case at all.
    public static func inScope(_ member: Member, _ facts: CaseFacts) -> Bool {
        switch member.role {
        case .admin: return true
        case .courier: return facts.reporterId == member.id
        case .gridMember, .gridLead: return member.grids.contains(facts.gridId)
        case .responder: return facts.assignedUnit != nil && facts.assignedUnit == member.unitId && facts.status.isOpen
        }
    }

    private static func roleAllows(_ role: Role, _ status: Status, _ action: CaseAction) -> Bool {
        switch role {
        case .admin, .gridLead: return true
        case .courier:
            switch action {
            case .comment, .addPhoto: return true
            case .cancel, .edit: return status == .new
            default: return false
            }
        case .gridMember: return [.comment, .addPhoto, .progress, .resolve, .edit].contains(action)
        case .responder: return [.comment, .addPhoto, .progress, .resolve].contains(action)
        }
    }

    /// The state machine of the fold: which states an action may start from.
    public static func fits(_ status: Status, _ action: CaseAction) -> Bool {
        switch action {
        case .accept: return status == .new || status == .reopened
        case .dispatch: return [.new, .accepted, .reopened, .dispatched, .inProgress].contains(status)
        case .progress: return [.accepted, .reopened, .dispatched, .inProgress].contains(status)
        case .resolve, .cancel: return status.isOpen
        case .followUp: return status == .resolved
        case .reopen: return !status.isOpen
        case .comment, .addPhoto, .edit: return true
        }
    }

    /// May `member` open a case in `gridId` (the report form, the distress button)?
    public static func canReport(_ member: Member?, _ gridId: String) -> Bool {
        guard let member else { return false }
        switch member.role {
        case .responder: return false
        case .courier, .admin: return true
        case .gridMember, .gridLead: return member.grids.contains(gridId)
        }
    }

    /// May `member` walk checklists in `gridId`?
    public static func canInspect(_ member: Member?, _ gridId: String) -> Bool {
        guard let member else { return false }
        switch member.role {
        case .admin: return true
        case .gridMember, .gridLead: return member.grids.contains(gridId)
        case .courier, .responder: return false
        }
    }

    public static func canAnswer(_ member: Member?, _ inspection: Inspection) -> Bool {
        inspection.status == .inProgress && canInspect(member, inspection.site.gridId)
    }

    /// Submit is offered once every item has an answer.
    public static func canSubmit(_ member: Member?, _ inspection: Inspection) -> Bool {
        canAnswer(member, inspection) && inspection.unanswered.isEmpty
    }
}

/// One answer button on a checklist item.
public enum AnswerChoice: String, CaseIterable, Sendable {
    case pass, fail
    case notApplicable = "not_applicable"
    case yes, no, number, text, photo

    public var key: String { "answer_" + rawValue }

    /// The value to store; `input` is what was typed for `.number` and `.text` (nil: not a number).
    public func value(_ input: String = "") -> AnswerValue? {
        switch self {
        case .pass: return .pass
        case .fail: return .fail
        case .notApplicable: return .notApplicable
        case .yes: return .yes
        case .no: return .no
        case .number:
            let typed = input.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: ",", with: ".")
            guard let n = Double(typed), n.isFinite else { return nil }
            return .number(value: n)
        case .text: return .text(value: input.trimmingCharacters(in: .whitespacesAndNewlines))
        case .photo: return .photo
        }
    }
}

extension AnswerValue {
    /// The button that stands for a stored answer.
    public var choice: AnswerChoice {
        switch self {
        case .pass: return .pass
        case .fail: return .fail
        case .notApplicable: return .notApplicable
        case .yes: return .yes
        case .no: return .no
        case .number: return .number
        case .text: return .text
        case .photo: return .photo
        }
    }
}

extension ChecklistItem {
    /// The answers an item takes, as core's `check_answer` accepts them.
    public var choices: [AnswerChoice] {
        switch answer {
        case .passFail: return [.pass, .fail, .notApplicable]
        case .yesNo: return [.yes, .no, .notApplicable]
        case .number: return [.number]
        case .text: return [.text]
        case .photo: return [.photo]
        }
    }

    /// Whether answering `choice` needs at least one photo (the camera opens first).
    public func needsPhoto(_ choice: AnswerChoice) -> Bool {
        (photoRequired || answer == .photo) && choice != .notApplicable
    }
}
