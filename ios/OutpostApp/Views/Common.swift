import OutpostKit
import SwiftUI

/// The text for a key in Localizable.strings: facade labels (status_*, action_*, ...) and
/// the app's own strings. scripts/suites/shells.sh checks every literal key exists in en and
/// zh-Hans; LabelKeysTest checks every facade key.
func L(_ key: String) -> String { NSLocalizedString(key, comment: "") }

/// A formatted string from a key whose text has %d / %@ arguments.
func L(_ key: String, _ args: CVarArg...) -> String { String(format: L(key), arguments: args) }

let alarm = Color(red: 0.78, green: 0.16, blue: 0.16)

func dateTime(_ ms: Int64) -> String {
    Date(timeIntervalSince1970: TimeInterval(ms) / 1000).formatted(date: .abbreviated, time: .shortened)
}

func ago(_ ms: Int64) -> String {
    RelativeDateTimeFormatter().localizedString(for: Date(timeIntervalSince1970: TimeInterval(ms) / 1000), relativeTo: Date())
}

/// A small coloured marker: life-safety, overdue, conflict.
struct BadgeView: View {
    let text: String
    var color: Color = .secondary

    var body: some View {
        Text(text)
            .font(.caption.bold())
            .padding(.horizontal, 6)
            .padding(.vertical, 2)
            .foregroundStyle(color)
            .overlay(Capsule().stroke(color))
    }
}

/// Shows an error message from core (OutpostError carries a sentence for the person).
func message(_ error: Error) -> String {
    (error as? LocalizedError)?.errorDescription ?? String(describing: error)
}
