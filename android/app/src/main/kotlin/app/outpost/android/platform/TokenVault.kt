package app.outpost.android.platform

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import app.outpost.ffi.TokenStore
import java.security.KeyStore
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * The device token, sealed ([TokenSeal]) with an AES-256-GCM key that lives in the Android
 * Keystore (hardware-backed where the phone has it) and never leaves it. Only the sealed
 * bytes are in the app's preferences; a backup or a copied data directory cannot be opened
 * elsewhere.
 *
 * Core's token store: `Outpost.open(path, tokens = TokenVault(context))`. Core saves the
 * token here at enrollment and reads it for syncs; it never writes it into its database, and
 * moves one an older version left there into this vault when the store opens.
 */
class TokenVault(context: Context) : TokenStore {
    private val prefs = context.getSharedPreferences("outpost.vault", Context.MODE_PRIVATE)

    /** The token, or null when none is kept or it cannot be opened (enroll again). */
    override fun load(): String? {
        val stored = prefs.getString(TOKEN, null) ?: return null
        val bytes = runCatching { Base64.decode(stored, Base64.NO_WRAP) }.getOrNull() ?: return null
        return TokenSeal.open(key(), bytes)
    }

    /** Durable when it returns (`commit`, not `apply`): core goes on as if it is stored. */
    override fun save(token: String?) {
        if (token == null) {
            check(prefs.edit().remove(TOKEN).commit()) { "the token could not be removed" }
            return
        }
        check(prefs.edit().putString(TOKEN, Base64.encodeToString(TokenSeal.seal(key(), token), Base64.NO_WRAP)).commit()) { "the token could not be stored" }
    }

    private fun key(): SecretKey {
        val store = KeyStore.getInstance(KEYSTORE).apply { load(null) }
        (store.getEntry(ALIAS, null) as? KeyStore.SecretKeyEntry)?.let { return it.secretKey }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val KEYSTORE = "AndroidKeyStore"
        const val ALIAS = "outpost.device-token"
        const val TOKEN = "token"
    }
}
