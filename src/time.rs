//! Wall-clock formatting in supervisor's style.
//!
//! superlance's mail subjects and batch lines use supervisor's log timestamp,
//! `YYYY-MM-DD HH:MM:SS,mmm` in local time (childutils.get_asctime), and users filter mail on
//! those texts. We use the C library's `localtime_r`, which honours TZ and /etc/localtime, so
//! no time-zone database is compiled in.

use std::time::{SystemTime, UNIX_EPOCH};

/// Broken-down local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millis: u32,
}

impl LocalTime {
    pub fn at(t: SystemTime) -> LocalTime {
        let (secs, millis) = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
            Err(e) => (-(e.duration().as_secs() as i64), 0),
        };
        let stamp = secs as libc::time_t;
        // SAFETY: an all-zero `tm` is a valid value; localtime_r only writes into it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
        let ok = unsafe { !libc::localtime_r(&stamp, &mut tm).is_null() };
        if !ok {
            return LocalTime {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                millis,
            };
        }
        LocalTime {
            year: tm.tm_year + 1900,
            month: (tm.tm_mon + 1) as u32,
            day: tm.tm_mday as u32,
            hour: tm.tm_hour as u32,
            minute: tm.tm_min as u32,
            second: tm.tm_sec as u32,
            millis,
        }
    }

    pub fn now() -> LocalTime {
        LocalTime::at(SystemTime::now())
    }
}

impl std::fmt::Display for LocalTime {
    /// supervisor's asctime: `2026-11-24 18:30:05,123`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millis
        )
    }
}

impl LocalTime {
    /// The C library's asctime without the newline, as Python's `time.asctime()` writes it:
    /// `Sun Nov 29 11:40:05 2026` (the day padded with a space). superlance's memmon dates its
    /// mail with it.
    pub fn c_asctime(&self) -> String {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        // Days since 1970-01-01 (a Thursday) by days_from_civil (H. Hinnant).
        let (y, m, d) = (
            i64::from(self.year),
            i64::from(self.month),
            i64::from(self.day),
        );
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
        let weekday = (days + 4).rem_euclid(7) as usize;
        format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            DAYS[weekday],
            MONTHS[(self.month as usize).clamp(1, 12) - 1],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
}

/// The local time zone's abbreviation at `t` (`CET`, `CEST`, `UTC`), as Python's
/// `time.strftime('%Z')` writes it; superlance's memmon puts it after the date. Empty when
/// the C library has none.
pub fn zone_abbreviation(t: SystemTime) -> String {
    let secs = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let stamp = secs as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value; localtime_r only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; localtime_r is thread-safe.
    if unsafe { libc::localtime_r(&stamp, &mut tm).is_null() } || tm.tm_zone.is_null() {
        return String::new();
    }
    // SAFETY: tm_zone points at a NUL-terminated name in libc's static time-zone state.
    unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
        .to_string_lossy()
        .into_owned()
}

/// Whole seconds since the Unix epoch (negative before it), as the webhook's `unix_time`.
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        // Round towards the past, so that -0.5 s is -1 as in `date +%s`.
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() > 0 {
                -whole - 1
            } else {
                -whole
            }
        }
    }
}

/// RFC 3339 in UTC with milliseconds, `2026-12-04T15:01:55.123Z`: what webhooks, Alertmanager
/// (`startsAt`) and `SUPERLANCE_TIME` carry. No time-zone database is needed for UTC.
pub fn rfc3339_utc(t: SystemTime) -> String {
    let millis: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    };
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400) as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// The (year, month 1-12, day 1-31) of a count of days since 1970-01-01 in the proleptic
/// Gregorian calendar (civil_from_days, H. Hinnant).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// supervisor's asctime of now.
pub fn asctime() -> String {
    LocalTime::now().to_string()
}

/// Read TZ once, before threads start (localtime_r may skip it otherwise).
pub fn init() {
    extern "C" {
        fn tzset();
    }
    // SAFETY: tzset takes no arguments and only initialises libc's time-zone state.
    unsafe { tzset() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn asctime_format() {
        let t = LocalTime {
            year: 2026,
            month: 3,
            day: 7,
            hour: 9,
            minute: 5,
            second: 1,
            millis: 42,
        };
        assert_eq!(t.to_string(), "2026-03-07 09:05:01,042");
        assert_eq!(t.c_asctime(), "Sat Mar  7 09:05:01 2026");
        let t = LocalTime {
            month: 11,
            day: 29,
            ..t
        };
        assert_eq!(t.c_asctime(), "Sun Nov 29 09:05:01 2026");
        let t = LocalTime {
            year: 2000,
            month: 2,
            day: 29,
            ..t
        };
        assert_eq!(t.c_asctime(), "Tue Feb 29 09:05:01 2000");
    }

    #[test]
    fn the_zone_is_an_abbreviation() {
        let zone = zone_abbreviation(SystemTime::now());
        assert!(
            !zone.is_empty() && !zone.contains(char::is_whitespace),
            "{zone:?}"
        );
    }

    #[test]
    fn rfc3339_in_utc() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_796_396_515_123);
        assert_eq!(rfc3339_utc(t), "2026-12-04T15:01:55.123Z");
        assert_eq!(unix_seconds(t), 1_796_396_515);
        // A leap day, and the last millisecond of a year.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339_utc(t), "2000-02-29T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_798_761_599_999);
        assert_eq!(rfc3339_utc(t), "2026-12-31T23:59:59.999Z");
        // Before the epoch.
        let t = UNIX_EPOCH - Duration::from_millis(500);
        assert_eq!(rfc3339_utc(t), "1969-12-31T23:59:59.500Z");
        assert_eq!(unix_seconds(t), -1);
    }

    #[test]
    fn at_epoch_plus_millis_has_the_millis() {
        let t = LocalTime::at(UNIX_EPOCH + Duration::from_millis(1_700_000_000_123));
        assert_eq!(t.millis, 123);
        assert!(t.year >= 2023);
        assert_eq!(t.to_string().len(), 23);
    }
}
