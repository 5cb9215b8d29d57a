import Foundation
import OutpostFFI

// How the buttons core offers look and what they open (Buttons.kt in android/outpost-kotlin).
// Which buttons a screen shows comes from core through the bindings (`Cases.actions`,
// `Inspections.readiness`, `Inspections.itemRules`, `Store.reportWithheld`, ...): the rule the
// store applies when an action is recorded and the server applies to a push. Nothing here
// decides who may do what; this file only names labels and forms.

extension Action {
    /// The label of an action's button (Localizable key).
    public var key: String {
        switch self {
        case .accept: return "action_accept"
        case .dispatch: return "action_dispatch"
        case .progress: return "action_progress"
        case .resolve: return "action_resolve"
        case .followUp: return "action_follow_up"
        case .reopen: return "action_reopen"
        case .cancel: return "action_cancel"
        case .comment: return "action_comment"
        case .addPhoto: return "action_add_photo"
        case .edit: return "action_edit"
        case .move: return "action_move"
        }
    }

    /// The form an action's button opens before the action is performed.
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
        case .move: return .move
        }
    }
}

/// What a screen asks for before it performs an action.
public enum ActionForm: Sendable { case none, note, reason, comment, dispatch, followUp, photo, edit, move }

extension Array where Element == ActionOffer {
    /// The offered actions of core's answer, in core's (button) order.
    public var allowed: [Action] { filter(\.allowed).map(\.action) }
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

extension ItemRule {
    /// The buttons of an item: core's choices where it lists them (pass/fail, yes/no), else
    /// the one input its kind is entered with (a number field, a text field, the camera).
    public var buttons: [AnswerChoice] {
        switch kind {
        case .number: return [.number]
        case .text: return [.text]
        case .photo: return [.photo]
        case .passFail, .yesNo: return choices.map(\.choice)
        }
    }

    /// Whether answering `choice` needs at least one photo (the camera opens first): core's
    /// `photoRequired` holds for every answer but "not applicable".
    public func needsPhoto(_ choice: AnswerChoice) -> Bool { photoRequired && choice != .notApplicable }
}
