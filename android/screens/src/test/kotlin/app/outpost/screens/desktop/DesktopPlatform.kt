package app.outpost.screens.desktop

import app.outpost.ffi.Location
import app.outpost.screens.Dates
import app.outpost.screens.Platform
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import java.awt.Color
import java.awt.image.BufferedImage
import java.io.File
import java.time.Instant
import java.time.ZoneId
import java.time.format.DateTimeFormatter
import java.time.format.FormatStyle
import java.util.Locale
import java.util.concurrent.CopyOnWriteArrayList
import javax.imageio.ImageIO

/**
 * The desktop host's stand-ins for the phone: a location fix the story sets, a camera that
 * writes a real JPEG into [photoDir], a network switch, and a sync scheduler that records
 * what the screens asked for (the story then runs the sync the scheduler would run).
 */
class DesktopPlatform(private val photoDir: File, override val deviceName: String) : Platform {
    @Volatile var fix: Location? = null

    /** What the camera does next: take a photo (true) or be cancelled (false). */
    @Volatile var cameraTakes = true
    val photosTaken = CopyOnWriteArrayList<String>()

    /** Each requestSync call: expedited or not. */
    val syncRequests = CopyOnWriteArrayList<Boolean>()
    val network = MutableStateFlow(true)

    override suspend fun recentLocation(): Location? = fix

    override suspend fun currentLocation(): Location? = fix

    override suspend fun askLocationPermission(): Boolean = true

    override suspend fun takePhoto(): String? {
        if (!cameraTakes) return null
        photoDir.mkdirs()
        val n = photosTaken.size + 1
        val image = BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB)
        image.createGraphics().apply {
            color = Color(40 * n % 256, 120, 200)
            fillRect(0, 0, 64, 48)
            dispose()
        }
        val file = File(photoDir, "capture-$deviceName-$n.jpg")
        ImageIO.write(image, "jpg", file)
        photosTaken += file.path
        return file.path
    }

    override fun requestSync(expedited: Boolean) {
        syncRequests += expedited
    }

    override val online: Flow<Boolean> = network
}

/** java.time in Shanghai's zone, in the language shown. */
class DesktopDates(private val locale: Locale, private val now: () -> Long = System::currentTimeMillis) : Dates {
    private val zone = ZoneId.of("Asia/Shanghai")
    private val format = DateTimeFormatter.ofLocalizedDateTime(FormatStyle.MEDIUM, FormatStyle.SHORT).withLocale(locale).withZone(zone)

    override fun dateTime(epochMs: Long): String = format.format(Instant.ofEpochMilli(epochMs))

    override fun ago(epochMs: Long): String {
        val minutes = ((now() - epochMs).coerceAtLeast(0) / 60_000).toInt()
        val zh = locale.language == "zh"
        return when {
            minutes < 1 -> if (zh) "刚刚" else "just now"
            minutes < 60 -> if (zh) "${minutes}分钟前" else "$minutes min ago"
            minutes < 24 * 60 -> if (zh) "${minutes / 60}小时前" else "${minutes / 60} h ago"
            else -> dateTime(epochMs)
        }
    }
}
