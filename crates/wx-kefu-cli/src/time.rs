//! Instants on the command line (`--since`, `--until`) and times in tables.
//!
//! WeChat speaks unix seconds; people speak dates in their time zone. A date or a time
//! without an offset is read in a time zone (the system's, or `--tz`), with jiff's
//! daylight-saving-aware conversion; an RFC 3339 instant or unix seconds are absolute.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// How `--since`/`--until` may be written, for help and error messages.
pub const FORMATS: &str = "a date (2026-11-01, midnight), a local time (2026-11-01T08:30 or \
                           \"2026-11-01 08:30:00\"), an RFC 3339 instant \
                           (2026-11-01T00:00:00+08:00) or unix seconds (1793462400)";

/// The time zone named by `--tz`, or the system's (which honours `TZ`).
pub fn zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name {
        Some(name) => TimeZone::get(name)
            .map_err(|e| format!("`{name}` is not a known time zone (e.g. Asia/Shanghai): {e}")),
        None => Ok(TimeZone::system()),
    }
}

/// Reads an instant as unix seconds; dates and local times are read in `tz`.
pub fn parse_instant(text: &str, tz: &TimeZone) -> Result<i64, String> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .map_err(|_| format!("`{text}`: unix seconds out of range"));
    }
    if let Ok(instant) = text.parse::<Timestamp>() {
        return Ok(instant.as_second());
    }
    let zoned = |result: Result<Zoned, jiff::Error>| {
        result
            .map(|zoned| zoned.timestamp().as_second())
            .map_err(|e| format!("`{text}` does not exist in {}: {e}", zone_name(tz)))
    };
    if let Ok(datetime) = text.parse::<DateTime>() {
        return zoned(datetime.to_zoned(tz.clone()));
    }
    if let Ok(date) = text.parse::<Date>() {
        return zoned(date.to_zoned(tz.clone()));
    }
    Err(format!("`{text}` is not an instant: expected {FORMATS}"))
}

/// Unix seconds as `2026-11-01 08:30:00` in `tz` (the number itself when out of range).
pub fn format_local(seconds: i64, tz: &TimeZone) -> String {
    match Timestamp::from_second(seconds) {
        Ok(instant) => instant
            .to_zoned(tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// Unix seconds as an RFC 3339 instant in UTC, for JSON.
pub fn format_rfc3339(seconds: i64) -> String {
    match Timestamp::from_second(seconds) {
        Ok(instant) => instant.to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// The current time in unix seconds.
pub fn now() -> i64 {
    Timestamp::now().as_second()
}

fn zone_name(tz: &TimeZone) -> String {
    tz.iana_name().unwrap_or("the time zone").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_read_in_every_form() {
        let shanghai = zone(Some("Asia/Shanghai")).unwrap();
        assert_eq!(parse_instant("2026-11-01", &shanghai), Ok(1_793_462_400));
        assert_eq!(
            parse_instant("2026-11-01T08:00", &shanghai),
            Ok(1_793_491_200)
        );
        assert_eq!(
            parse_instant("2026-11-01 08:00:00", &shanghai),
            Ok(1_793_491_200)
        );
        assert_eq!(
            parse_instant("2026-11-01T00:00:00Z", &shanghai),
            Ok(1_793_491_200)
        );
        assert_eq!(parse_instant(" 1793462400 ", &shanghai), Ok(1_793_462_400));
        for (bad, why) in [
            (
                "yesterday",
                "`yesterday` is not an instant: expected a date",
            ),
            ("2026-13-01", "`2026-13-01` is not an instant"),
            ("99999999999999999999999", "unix seconds out of range"),
        ] {
            let error = parse_instant(bad, &shanghai).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
        let unknown = zone(Some("Mars/Olympus")).map(|_| ()).unwrap_err();
        assert!(
            unknown.starts_with("`Mars/Olympus` is not a known time zone"),
            "{unknown}"
        );
        assert_eq!(
            format_local(1_793_491_200, &shanghai),
            "2026-11-01 08:00:00"
        );
        assert_eq!(format_rfc3339(1_793_491_200), "2026-11-01T00:00:00Z");
    }
}
