package app.outpost.screens.desktop

import app.outpost.screens.Texts
import org.w3c.dom.Element
import java.io.File
import java.util.Locale
import javax.xml.parsers.DocumentBuilderFactory

/**
 * The app's Android string resources read on the desktop: `values/strings.xml` (English)
 * and `values-zh-rCN/strings.xml`, the same files aapt2 compiles into the app. Formats with
 * Android's `%1$s` / `%1$d` / `%1$.5f` placeholders, which java.util.Formatter shares.
 * A missing key is an error here (the stories must not render raw keys).
 */
class XmlTexts(private val strings: Map<String, String>, private val locale: Locale) : Texts {
    override val language: String get() = locale.language

    override fun get(key: String, vararg args: Any): String {
        val text = strings[key] ?: throw IllegalArgumentException("no string resource '$key' for ${locale.toLanguageTag()}")
        return if (args.isEmpty()) text else String.format(locale, text, *args)
    }

    companion object {
        /** Reads `<res>/values<suffix>/strings.xml`. */
        fun load(res: File, suffix: String, locale: Locale): XmlTexts {
            val file = File(res, "values$suffix/strings.xml")
            val doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(file)
            val nodes = doc.getElementsByTagName("string")
            val map = (0 until nodes.length).associate { i ->
                val e = nodes.item(i) as Element
                e.getAttribute("name") to unescape(e.textContent)
            }
            return XmlTexts(map, locale)
        }

        /** Android's string escapes: surrounding quotes keep spaces; \' \" \\ \n \t \@ \?. */
        fun unescape(raw: String): String {
            val s = raw.trim().let { if (it.length >= 2 && it.startsWith('"') && it.endsWith('"')) it.substring(1, it.length - 1) else it }
            val out = StringBuilder(s.length)
            var i = 0
            while (i < s.length) {
                val c = s[i]
                if (c == '\\' && i + 1 < s.length) {
                    out.append(
                        when (val n = s[i + 1]) {
                            'n' -> '\n'
                            't' -> '\t'
                            else -> n
                        },
                    )
                    i += 2
                } else {
                    out.append(c)
                    i++
                }
            }
            return out.toString()
        }
    }
}
