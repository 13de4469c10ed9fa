//! Time as the library reads it: the Unix clock, and how long a provider asks us to wait.
//!
//! Both transports and the token endpoint read `Retry-After` here (seconds or an HTTP date,
//! RFC 9110 §10.2.3, parsed by the `httpdate` crate, which the HTTP stack already builds), and
//! the Gmail API's "Retry after 2023-03-07T18:18:23.688Z" in an error message.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since 1970-01-01 UTC (0 if the clock is before it).
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Seconds to wait: from `Retry-After` (delta-seconds or an HTTP date), else from Google's
/// "Retry after 2023-03-07T18:18:23.688Z" in the message.
pub(crate) fn retry_after_s(header: Option<&str>, message: &str, now: i64) -> Option<u64> {
    let until = |at: i64| Some((at - now).max(0) as u64);
    if let Some(h) = header.map(str::trim) {
        if let Ok(s) = h.parse::<u64>() {
            return Some(s);
        }
        if let Some(at) = parse_http_date(h) {
            return until(at);
        }
    }
    let lower = message.to_ascii_lowercase();
    let i = lower.find("retry after ")?;
    let stamp = message[i + "retry after ".len()..].split_whitespace().next()?;
    parse_rfc3339(stamp).and_then(until)
}

/// An HTTP date (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete RFC 850 and
/// asctime forms a recipient must also accept) as Unix seconds.
fn parse_http_date(s: &str) -> Option<i64> {
    let at = httpdate::parse_http_date(s).ok()?;
    at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs() as i64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds as `2026-12-07 10:00 UTC` (Howard Hinnant's civil_from_days).
pub(crate) fn format_utc(at: i64) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// `2023-03-07T18:18:23.688Z` (UTC only, fraction ignored; trailing punctuation tolerated).
fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim_end_matches(['.', ',', ';', ')']);
    let (date, time) = s.split_once(['T', 't'])?;
    let time = time.strip_suffix(['Z', 'z'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let time = time.split('.').next()?;
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, sec) = (t.next()??, t.next()??, t.next()??);
    let ok = (1..=12).contains(&mo)
        && (1..=31).contains(&da)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..=60).contains(&sec);
    ok.then(|| days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_are_formatted_as_utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00 UTC");
        let at = parse_rfc3339("2026-12-07T10:05:59Z").unwrap();
        assert_eq!(format_utc(at), "2026-12-07 10:05 UTC");
        assert_eq!(format_utc(days_from_civil(2100, 3, 1) * 86_400), "2100-03-01 00:00 UTC");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_date_or_from_the_message() {
        let now = parse_http_date("Wed, 25 Nov 2026 06:00:00 GMT").unwrap();
        assert_eq!(retry_after_s(Some("Wed, 25 Nov 2026 06:01:30 GMT"), "", now), Some(90));
        let stamp = parse_rfc3339("2026-11-25T06:02:00.688Z").unwrap();
        assert_eq!(stamp - now, 120);
        assert_eq!(
            retry_after_s(
                None,
                "User-rate limit exceeded.  Retry after 2026-11-25T06:02:00.688Z",
                now
            ),
            Some(120)
        );
        assert_eq!(retry_after_s(None, "nothing", now), None);
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
    }

    #[test]
    fn a_date_in_the_past_means_no_wait() {
        let now = parse_http_date("Wed, 25 Nov 2026 06:00:00 GMT").unwrap();
        assert_eq!(retry_after_s(Some("Wed, 25 Nov 2026 05:00:00 GMT"), "", now), Some(0));
        assert_eq!(retry_after_s(Some("soon"), "", now), None);
    }
}
