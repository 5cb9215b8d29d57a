package app.outpost.android

import app.outpost.android.platform.TokenSeal
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Test
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey

/**
 * The token vault's contract (android/app platform/TokenSeal.kt): what TokenVault keeps in
 * the preferences opens only with the key that sealed it, and fails closed. The key here is
 * a software AES-256 key; on the phone it lives in the Android Keystore (not on the JVM).
 */
class TokenSealTest {
    private fun key(): SecretKey = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()

    private val token = "dev_3q2Jk9w-对讲机-token"

    @Test
    fun `a sealed token opens with its key and hides the token`() {
        val key = key()
        val sealed = TokenSeal.seal(key, token)
        assertEquals(token, TokenSeal.open(key, sealed))
        assertFalse(String(sealed, Charsets.ISO_8859_1).contains("dev_3q2Jk9w"))
        // A fresh IV per seal: the same token never seals to the same bytes.
        assertFalse(sealed.contentEquals(TokenSeal.seal(key, token)))
    }

    @Test
    fun `a changed byte, another key or a truncated blob opens to nothing`() {
        val key = key()
        val sealed = TokenSeal.seal(key, token)
        for (i in sealed.indices) {
            val bent = sealed.copyOf().also { it[i] = (it[i].toInt() xor 0x01).toByte() }
            assertNull("byte $i changed", TokenSeal.open(key, bent))
        }
        assertNull(TokenSeal.open(key(), sealed))
        for (n in listOf(0, 1, TokenSeal.IV_BYTES, TokenSeal.IV_BYTES + 15, sealed.size - 1)) {
            assertNull("truncated to $n", TokenSeal.open(key, sealed.copyOf(n)))
        }
    }
}
