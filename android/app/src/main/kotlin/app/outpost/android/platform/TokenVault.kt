package app.outpost.android.platform

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import app.outpost.ffi.TokenStore
import java.security.KeyStore
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * The device token, encrypted with an AES-256-GCM key that lives in the Android Keystore
 * (hardware-backed where the phone has it) and never leaves it. Only the ciphertext is in
 * the app's preferences; a backup or a copied data directory cannot be decrypted elsewhere.
 *
 * Core's token store: `Outpost.open(path, tokens = TokenVault(context))`. Core saves the
 * token here at enrollment and reads it for syncs; it never writes it into its database, and
 * moves one an older version left there into this vault when the store opens.
 */
class TokenVault(context: Context) : TokenStore {
    private val prefs = context.getSharedPreferences("outpost.vault", Context.MODE_PRIVATE)

    override fun load(): String? {
        val stored = prefs.getString(TOKEN, null) ?: return null
        val bytes = Base64.decode(stored, Base64.NO_WRAP)
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.DECRYPT_MODE, key(), GCMParameterSpec(128, bytes, 0, IV_BYTES))
        return runCatching { String(cipher.doFinal(bytes, IV_BYTES, bytes.size - IV_BYTES), Charsets.UTF_8) }
            .getOrNull() // a key lost with a factory reset or restore: enroll again
    }

    /** Durable when it returns (`commit`, not `apply`): core goes on as if it is stored. */
    override fun save(token: String?) {
        if (token == null) {
            check(prefs.edit().remove(TOKEN).commit()) { "the token could not be removed" }
            return
        }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key())
        val sealed = cipher.iv + cipher.doFinal(token.toByteArray(Charsets.UTF_8))
        check(prefs.edit().putString(TOKEN, Base64.encodeToString(sealed, Base64.NO_WRAP)).commit()) { "the token could not be stored" }
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
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val IV_BYTES = 12
        const val TOKEN = "token"
    }
}
