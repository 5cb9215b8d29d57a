//! A small HTML writer whose only way to emit markup is a `&'static str` written in this
//! source: every value that comes from a request, the database or a document goes through
//! [`Html::text`] or an attribute value, both escaped. There is no way to pass a runtime
//! string through unescaped.

use std::fmt::Write;

/// Escapes `s` for an HTML text node or a quoted attribute value.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no business in a page; NUL in particular.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// A document or fragment being written.
#[derive(Debug, Default)]
pub struct Html {
    buf: String,
}

impl Html {
    pub fn new() -> Html {
        Html {
            buf: String::with_capacity(16 << 10),
        }
    }

    /// Markup written in the source.
    pub fn raw(&mut self, s: &'static str) -> &mut Self {
        self.buf.push_str(s);
        self
    }

    /// Text, escaped.
    pub fn text(&mut self, s: &str) -> &mut Self {
        escape_into(&mut self.buf, s);
        self
    }

    /// A number as text.
    pub fn num(&mut self, n: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.buf, "{n}");
        self
    }

    /// `<tag a="v" …>`, every value escaped; a `None` value leaves the attribute out, an
    /// empty one writes it bare (`disabled`, `selected`).
    pub fn open(&mut self, tag: &'static str, attrs: &[(&'static str, Option<&str>)]) -> &mut Self {
        self.buf.push('<');
        self.buf.push_str(tag);
        for (name, value) in attrs {
            let Some(v) = value else { continue };
            self.buf.push(' ');
            self.buf.push_str(name);
            if !v.is_empty() {
                self.buf.push_str("=\"");
                escape_into(&mut self.buf, v);
                self.buf.push('"');
            }
        }
        self.buf.push('>');
        self
    }

    pub fn close(&mut self, tag: &'static str) -> &mut Self {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag attrs>text</tag>`.
    pub fn el(
        &mut self,
        tag: &'static str,
        attrs: &[(&'static str, Option<&str>)],
        text: &str,
    ) -> &mut Self {
        self.open(tag, attrs).text(text).close(tag)
    }

    /// Another writer's output (itself escaped as it was written).
    pub fn append(&mut self, other: Html) -> &mut Self {
        self.buf.push_str(&other.buf);
        self
    }

    pub fn into_string(self) -> String {
        self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Some attribute value.
pub fn v(s: &str) -> Option<&str> {
    Some(s)
}

/// A bare attribute when `on`.
pub fn flag(on: bool) -> Option<&'static str> {
    on.then_some("")
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM` in China Standard Time (UTC+8, no
/// daylight saving), where the grids are.
pub fn time(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + 8 * 3600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// The date of a day count since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A duration in ms as a short text: `45 min`, `3.5 h`, `2.0 d`.
pub fn span(ms: i64) -> String {
    let m = ms as f64 / 60_000.0;
    if m < 90.0 {
        format!("{m:.0} min")
    } else if m < 48.0 * 60.0 {
        format!("{:.1} h", m / 60.0)
    } else {
        format!("{:.1} d", m / 1440.0)
    }
}

/// A rate in 0..=1 as a percentage, `—` when there is none.
pub fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_string(), |r| format!("{:.1}%", r * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_attributes_are_escaped() {
        let mut h = Html::new();
        h.open("a", &[("href", v("/x?a=1&b=\"2\"")), ("hidden", None)])
            .text("<script>alert('x')</script>")
            .close("a");
        assert_eq!(
            h.into_string(),
            "<a href=\"/x?a=1&amp;b=&quot;2&quot;\">&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</a>"
        );
    }

    #[test]
    fn times_are_china_standard_time() {
        assert_eq!(time(0), "1970-01-01 08:00");
        // 2024-02-29 16:00 UTC is 2024-03-01 00:00 in Beijing.
        assert_eq!(time(1_709_222_400_000), "2024-03-01 00:00");
        assert_eq!(span(45 * 60_000), "45 min");
        assert_eq!(pct(Some(0.98051)), "98.1%");
        assert_eq!(pct(None), "—");
    }
}
