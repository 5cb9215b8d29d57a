import Foundation
import OutpostFFI
import Security

/// The device token in the Keychain, readable after the first unlock (background sync needs
/// it: `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`) and never migrated to another
/// device by a backup. Core's token store: `Outpost.open(path:tokens: Keychain())`; core
/// saves the token here at enrollment, reads it for syncs, never writes it into its
/// database, and moves one an older version left there into the Keychain on open.
final class Keychain: TokenStore, @unchecked Sendable {
    private static let service = "app.outpost.device-token"

    func load() throws -> String? {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: Self.service,
            kSecReturnData as String: true,
            kSecMatchLimit as String: kSecMatchLimitOne,
        ]
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecItemNotFound { return nil }
        guard status == errSecSuccess, let data = item as? Data else {
            throw TokenStoreError.Failed(reason: "the Keychain could not be read (OSStatus \(status))")
        }
        return String(data: data, encoding: .utf8)
    }

    func save(token: String?) throws {
        let match: [String: Any] = [kSecClass as String: kSecClassGenericPassword, kSecAttrService as String: Self.service]
        let deleted = SecItemDelete(match as CFDictionary)
        guard deleted == errSecSuccess || deleted == errSecItemNotFound else {
            throw TokenStoreError.Failed(reason: "the Keychain could not remove the old token (OSStatus \(deleted))")
        }
        guard let token else { return }
        var add = match
        add[kSecValueData as String] = Data(token.utf8)
        add[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else {
            throw TokenStoreError.Failed(reason: "the Keychain could not store the token (OSStatus \(added))")
        }
    }
}
