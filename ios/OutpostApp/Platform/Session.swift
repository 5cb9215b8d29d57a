import Foundation
import OutpostKit

/// Opens the one `Outpost` of the process, for the screens and for background sync alike
/// (a background launch may run sync before any screen exists).
@MainActor
final class Session {
    static let shared = Session()
    private var opening: Task<Outpost, Error>?

    func outpost() async throws -> Outpost {
        if let opening { return try await opening.value }
        let task = Task<Outpost, Error> {
            let dir = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            // The token lives in the Keychain; OutpostKit sets complete-until-first-user-
            // authentication protection on this directory and the photo directory.
            return try await Outpost.open(path: dir.appendingPathComponent("outpost.db").path, tokens: Keychain())
        }
        opening = task
        return try await task.value
    }
}
