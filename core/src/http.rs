//! The HTTP outcome classifier every integration uses, so every language agrees on what an HTTP
//! exchange means for a breaker (docs/semantics.md, "HTTP outcomes").
//!
//! * A response's status: 5xx except 501, 408 and 429 are failures; every other status (1xx-4xx,
//!   501) is a success: the dependency answered, and a 404 or a 400 is the caller's business.
//! * An exchange that ended without a response: a connection error or a timeout is a failure, the
//!   caller's own cancellation is ignored, any other error is a failure.
//! * `Retry-After` (delta-seconds or an HTTP-date, RFC 9110 §10.2.3) on a failing response is the
//!   retry time to record with the failure: if that failure opens or re-opens the breaker, the open
//!   duration is at least that long (capped by `max_reset_timeout`).
//!
//! Pure functions: no I/O, no clock. An HTTP-date is turned into a duration against the wall-clock
//! instant the caller passes in (the bindings pass the system time when the headers arrived).
//!
//! ```
//! use circuit::http::{self, HttpError};
//! use circuit::Outcome;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! assert_eq!(http::classify_status(503), Outcome::Failure);
//! assert_eq!(http::classify_status(404), Outcome::Success);
//! assert_eq!(http::classify_error(HttpError::Cancelled), Outcome::Ignored);
//!
//! let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
//! let verdict = http::classify_response(429, Some("Sun, 06 Nov 1994 08:50:07 GMT"), now);
//! assert_eq!(verdict.outcome, Outcome::Failure);
//! assert_eq!(verdict.retry_after, Some(Duration::from_secs(30)));
//! assert_eq!(http::parse_retry_after(" 120 ", now), Some(Duration::from_secs(120)));
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::state::Outcome;

spelled_enum! {
    /// How an HTTP exchange ended when it produced no response.
    HttpError {
        /// The connection could not be made or broke (refused, reset, DNS, TLS handshake).
        Connect = 0 => "connect",
        /// The integration's own request timeout fired: the dependency did not answer in time.
        Timeout = 1 => "timeout",
        /// The caller cancelled the request (an abort signal, a cancelled task or context).
        Cancelled = 2 => "cancelled",
        /// Any other error raised while the request was in flight.
        Other = 3 => "other",
    }
}

/// The outcome a response with this status stands for: 5xx except 501, 408 and 429 are failures,
/// every other status is a success.
pub const fn classify_status(status: u16) -> Outcome {
    match status {
        408 | 429 => Outcome::Failure,
        501 => Outcome::Success,
        s if s >= 500 => Outcome::Failure,
        _ => Outcome::Success,
    }
}

/// The outcome of an exchange that ended without a response: the caller's cancellation is
/// ignored, everything else (connection errors, timeouts, other errors) is a failure.
pub const fn classify_error(kind: HttpError) -> Outcome {
    match kind {
        HttpError::Cancelled => Outcome::Ignored,
        HttpError::Connect | HttpError::Timeout | HttpError::Other => Outcome::Failure,
    }
}

/// What a response means for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The outcome to record.
    pub outcome: Outcome,
    /// The retry time to record with a failure (`Retry-After`); `None` for a success, or when the
    /// header is absent or cannot be parsed.
    pub retry_after: Option<Duration>,
}

/// Classifies a response from its status and its `Retry-After` header (if any); `now` is the
/// wall-clock instant the headers arrived, used only for an HTTP-date. The retry time is kept only
/// for a failure: a `Retry-After` on a 3xx or a 2xx says nothing about an outage.
pub fn classify_response(status: u16, retry_after: Option<&str>, now: SystemTime) -> Verdict {
    let outcome = classify_status(status);
    let retry_after = match outcome {
        Outcome::Failure => retry_after.and_then(|value| parse_retry_after(value, now)),
        Outcome::Success | Outcome::Ignored => None,
    };
    Verdict { outcome, retry_after }
}

/// Parses a `Retry-After` value: delta-seconds (`"120"`) or an HTTP-date in any of the three
/// forms recipients must accept (IMF-fixdate, RFC 850, asctime). A date is measured from `now`;
/// one in the past gives zero. Surrounding whitespace is allowed; anything else that is not one of
/// these forms (a negative or fractional number, a malformed date) gives `None`. A number too large
/// for a `u64` of seconds saturates.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim_matches([' ', '\t']);
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        let seconds = value
            .bytes()
            .try_fold(0u64, |acc, b| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))
            .unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value, now)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an HTTP-date (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`,
/// `Sunday, 06-Nov-94 08:49:37 GMT` or `Sun Nov  6 08:49:37 1994`. A two-digit year is the one
/// closest to `now` that is not more than 50 years ahead of it, as the RFC says. Day and month
/// names are matched without regard to case; the day name is not checked against the date.
pub fn parse_http_date(value: &str, now: SystemTime) -> Option<SystemTime> {
    let fields = if let Some((day_name, rest)) = value.split_once(',') {
        if day_name.len() == 3 { imf_fixdate(rest)? } else { rfc850(rest, now)? }
    } else {
        asctime(value)?
    };
    fields.to_system_time()
}

struct DateFields {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl DateFields {
    fn to_system_time(&self) -> Option<SystemTime> {
        let leap = (self.year % 4 == 0 && self.year % 100 != 0) || self.year % 400 == 0;
        let days_in_month = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let valid = (1..=12).contains(&self.month)
            && (1..=days_in_month[self.month as usize - 1]).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second <= 60;
        if !valid {
            return None;
        }
        let seconds = days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second.min(59));
        // A date before 1970 is simply in the past.
        Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn month(name: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let position = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    Some(position as u32 + 1)
}

fn digits(text: &str, width: usize) -> Option<u32> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

/// `HH:MM:SS`.
fn clock_time(text: &str) -> Option<(u32, u32, u32)> {
    let mut parts = text.split(':');
    let t = (digits(parts.next()?, 2)?, digits(parts.next()?, 2)?, digits(parts.next()?, 2)?);
    parts.next().is_none().then_some(t)
}

/// ` 06 Nov 1994 08:49:37 GMT` (after `Sun,`).
fn imf_fixdate(rest: &str) -> Option<DateFields> {
    let rest = rest.strip_prefix(' ')?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, mon, year, time, "GMT"] = parts[..] else {
        return None;
    };
    let (hour, minute, second) = clock_time(time)?;
    Some(DateFields {
        year: i64::from(digits(year, 4)?),
        month: month(mon)?,
        day: digits(day, 2)?,
        hour,
        minute,
        second,
    })
}

/// ` 06-Nov-94 08:49:37 GMT` (after `Sunday,`).
fn rfc850(rest: &str, now: SystemTime) -> Option<DateFields> {
    let rest = rest.strip_prefix(' ')?;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [date, time, "GMT"] = parts[..] else {
        return None;
    };
    let mut date_parts = date.split('-');
    let (day, mon, yy) = (date_parts.next()?, date_parts.next()?, date_parts.next()?);
    if date_parts.next().is_some() {
        return None;
    }
    let yy = i64::from(digits(yy, 2)?);
    let this_year = 1970 + now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as i64 / 31_556_952;
    let mut year = this_year - this_year.rem_euclid(100) + yy;
    if year > this_year + 50 {
        year -= 100;
    } else if year + 100 <= this_year + 50 {
        year += 100;
    }
    let (hour, minute, second) = clock_time(time)?;
    Some(DateFields { year, month: month(mon)?, day: digits(day, 2)?, hour, minute, second })
}

/// `Sun Nov  6 08:49:37 1994` (the day of the month space-padded to two characters).
fn asctime(value: &str) -> Option<DateFields> {
    let (day_name, rest) = value.split_once(' ')?;
    let (mon, rest) = rest.split_once(' ')?;
    if day_name.len() != 3 || rest.len() != 16 || !rest.is_char_boundary(2) {
        return None;
    }
    let (day, rest) = rest.split_at(2);
    let day = day.trim_start_matches(' ');
    let day = if day.len() == 1 { digits(day, 1)? } else { digits(day, 2)? };
    let parts: Vec<&str> = rest.strip_prefix(' ')?.split(' ').collect();
    let [time, year] = parts[..] else {
        return None;
    };
    let (hour, minute, second) = clock_time(time)?;
    Some(DateFields { year: i64::from(digits(year, 4)?), month: month(mon)?, day, hour, minute, second })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const NOV_6_1994: u64 = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT

    #[test]
    fn the_three_date_forms_agree() {
        let now = at(NOV_6_1994);
        for form in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(parse_http_date(form, now), Some(at(NOV_6_1994)), "{form}");
        }
        assert_eq!(parse_http_date("sun, 06 NOV 1994 08:49:37 GMT", now), Some(at(NOV_6_1994)));
    }

    #[test]
    fn malformed_dates_are_refused() {
        let now = at(NOV_6_1994);
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun Nov 06 08:49:37 1994 extra",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "-5",
            "1.5",
            "soon",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn two_digit_years_are_at_most_fifty_years_ahead() {
        let now = at(NOV_6_1994);
        assert!(parse_http_date("Sunday, 06-Nov-44 08:49:37 GMT", now).unwrap() > now, "2044");
        assert!(parse_http_date("Monday, 01-Jan-45 00:00:00 GMT", now).unwrap() < now, "1945, not 2045");
        let now = at(1_780_000_000); // 2026
        let y2030 = parse_http_date("Tuesday, 01-Jan-30 00:00:00 GMT", now).unwrap();
        assert!(y2030 > now, "in 2026, 30 is 2030, not 1930");
    }

    #[test]
    fn leap_days_and_epoch_arithmetic() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", at(0)), Some(at(0)));
        assert_eq!(parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT", at(0)), Some(at(951_782_400)));
        assert_eq!(parse_http_date("Mon, 29 Feb 1900 00:00:00 GMT", at(0)), None);
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(value in "\\PC{0,40}", secs in 0u64..4_000_000_000) {
            let _ = parse_retry_after(&value, at(secs));
        }

        #[test]
        fn date_shaped_input_never_panics(day in "[A-Za-z\\u{e9}]{3,9}", rest in "[ 0-9A-Za-z:\\-\\u{e9}]{0,30}") {
            let _ = parse_retry_after(&format!("{day}, {rest}"), at(0));
            let _ = parse_retry_after(&format!("{day} {rest}"), at(0));
        }
    }

    #[test]
    fn multibyte_text_where_a_day_of_the_month_belongs_is_refused() {
        assert_eq!(parse_retry_after("Sun Nov \u{e9} 08:49:37 1994x", at(0)), None);
        assert_eq!(parse_retry_after("Sun Nov 6\u{e9}08:49:37 1994", at(0)), None);
    }

    #[test]
    fn huge_delta_seconds_saturate() {
        assert_eq!(parse_retry_after("99999999999999999999999", at(0)), Some(Duration::from_secs(u64::MAX)));
    }
}
