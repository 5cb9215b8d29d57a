import Foundation
import Security

/// The device token in the Keychain, readable after the first unlock (background sync needs
/// it) and never migrated to another device by a backup.
///
/// Not wired yet: today core keeps the token inside its SQLite file and the bindings neither
/// return it at enrollment nor take it for a sync. Once they let the shell hold it (a foreign
/// `TokenStore` protocol the core calls, see ios/README.md), the app passes this in.
enum Keychain {
    private static let service = "app.outpost.device-token"

    static func load() -> String? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecReturnData as String: true,
            kSecMatchLimit as String: kSecMatchLimitOne,
        ]
        var item: CFTypeRef?
        guard SecItemCopyMatching(query as CFDictionary, &item) == errSecSuccess, let data = item as? Data else { return nil }
        return String(data: data, encoding: .utf8)
    }

    @discardableResult
    static func save(_ token: String?) -> Bool {
        let match: [String: Any] = [kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: service]
        SecItemDelete(match as CFDictionary)
        guard let token else { return true }
        var add = match
        add[kSecValueData as String] = Data(token.utf8)
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        return SecItemAdd(add as CFDictionary, nil) == errSecSuccess
    }
}
