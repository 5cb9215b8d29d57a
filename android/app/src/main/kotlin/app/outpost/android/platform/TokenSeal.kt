package app.outpost.android.platform

import java.security.GeneralSecurityException
import javax.crypto.Cipher
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * How [TokenVault] seals the device token: AES-GCM with a fresh 12-byte IV per seal, stored
 * as IV followed by ciphertext and tag. Opening fails closed: a changed byte, a different key
 * (the Keystore key was lost with a factory reset or a restore to another phone) or a
 * truncated blob gives null, never a wrong token and never a crash. Plain JCA, so its
 * contract is tested on the JVM (android/screens' TokenSealTest).
 */
object TokenSeal {
    private const val TRANSFORMATION = "AES/GCM/NoPadding"
    const val IV_BYTES = 12
    private const val TAG_BITS = 128

    fun seal(key: SecretKey, token: String): ByteArray {
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, key)
        check(cipher.iv.size == IV_BYTES) { "unexpected IV length ${cipher.iv.size}" }
        return cipher.iv + cipher.doFinal(token.toByteArray(Charsets.UTF_8))
    }

    fun open(key: SecretKey, sealed: ByteArray): String? {
        if (sealed.size < IV_BYTES + TAG_BITS / 8) return null
        return try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BITS, sealed, 0, IV_BYTES))
            String(cipher.doFinal(sealed, IV_BYTES, sealed.size - IV_BYTES), Charsets.UTF_8)
        } catch (e: GeneralSecurityException) {
            null
        }
    }
}
