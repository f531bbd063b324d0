//! Calendar arithmetic without a clock: RFC 3339 timestamps for the
//! `token_refreshed_at` marker and HTTP-dates for `Retry-After`
//! (RFC 9110 §5.6.7). All instants are Unix epoch milliseconds.

use super::text;

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn to_ms(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Option<i64> {
    // RFC 3339 and HTTP-dates write four-digit years; anything else is
    // garbage (and would overflow the arithmetic below).
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || d == 0
        || d > days_in_month(y, mo)
        || h > 23
        || mi > 59
        || s > 60
    {
        return None;
    }
    let s = s.min(59); // a leap second counts as :59
    Some(
        ((days_from_civil(y, mo, d) * 24 + h as i64) * 60 + mi as i64) * 60_000
            + s as i64 * 1000
            + ms as i64,
    )
}

/// Epoch milliseconds as UTC (year, month, day, hour, minute, second, millisecond).
fn utc_fields(ms: i64) -> (i64, u32, u32, i64, i64, i64, i64) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, rem) = (rem / 3_600_000, rem % 3_600_000);
    let (mi, rem) = (rem / 60_000, rem % 60_000);
    let (s, milli) = (rem / 1000, rem % 1000);
    (y, m, d, h, mi, s, milli)
}

/// Formats epoch milliseconds as RFC 3339 UTC with milliseconds: `2026-11-22T18:43:59.123Z`.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let (y, m, d, h, mi, s, milli) = utc_fields(ms);
    // Written digit by digit: a marker is formatted on every answer that
    // carries one, and `format!` with widths was the costliest step there.
    // The year as `{y:04}` writes it: a minus sign counts toward the width.
    let mut out = String::with_capacity(24);
    if y < 0 {
        out.push('-');
    }
    text::push_decimal(&mut out, y.unsigned_abs(), if y < 0 { 3 } else { 4 });
    for (sep, v, width) in [
        ('-', u64::from(m), 2),
        ('-', u64::from(d), 2),
        ('T', h as u64, 2),
        (':', mi as u64, 2),
        (':', s as u64, 2),
        ('.', milli as u64, 3),
    ] {
        out.push(sep);
        text::push_decimal(&mut out, v, width);
    }
    out.push('Z');
    out
}

fn num(s: &str) -> Option<u32> {
    digits(s.as_bytes())
}

/// ASCII digits as a number; `None` for anything else, or when empty or
/// beyond u32. Read byte by byte, with no slicing that could panic (a
/// panicking slice brings `str` and `char` debug formatting into the wasm).
fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        let d = (c as char).to_digit(10)?;
        acc.checked_mul(10)?.checked_add(d)
    })
}

/// Parses an RFC 3339 timestamp (`Z` or `±hh:mm` offset, optional fraction,
/// `T` or space separator as Postgres prints) into epoch milliseconds.
/// Fractions beyond milliseconds are truncated.
pub fn parse_rfc3339_ms(input: &str) -> Option<i64> {
    let b = input.trim().as_bytes();
    let at = |i: usize, j: usize| b.get(i..j).and_then(digits);
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let (y, mo, d) = (at(0, 4)? as i64, at(5, 7)?, at(8, 10)?);
    let (h, mi, sec) = (at(11, 13)?, at(14, 16)?, at(17, 19)?);
    let mut rest = b.get(19..)?;
    let mut milli = 0u32;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        // The first three digits, as milliseconds (`.5` is 500).
        for i in 0..3 {
            milli = milli * 10
                + frac
                    .get(i)
                    .filter(|_| i < n)
                    .map_or(0, |c| u32::from(c - b'0'));
        }
        rest = &frac[n..];
    }
    let offset_min: i64 = match rest {
        b"Z" | b"z" => 0,
        [sign, oh @ ..] if rest.len() == 6 || rest.len() == 3 => {
            let sign = match sign {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh = digits(oh.get(0..2)?)? as i64;
            let mm = match oh.get(2..) {
                Some([]) => 0,
                Some([b':', m @ ..]) => digits(m)? as i64,
                _ => return None,
            };
            if hh > 23 || mm > 59 {
                return None;
            }
            sign * (hh * 60 + mm)
        }
        _ => return None,
    };
    Some(to_ms(y, mo, d, h, mi, sec, milli)? - offset_min * 60_000)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(s: &str) -> Option<u32> {
    MONTHS.iter().position(|m| *m == s).map(|i| i as u32 + 1)
}

fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let h = it.next().filter(|p| p.len() == 2).and_then(num)?;
    let m = it.next().filter(|p| p.len() == 2).and_then(num)?;
    let sec = it.next().filter(|p| p.len() == 2).and_then(num)?;
    if it.next().is_some() {
        return None;
    }
    Some((h, m, sec))
}

/// Parses an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, and the obsolete
/// RFC 850 and asctime forms that recipients must accept.
pub fn parse_http_date_ms(input: &str) -> Option<i64> {
    let parts: Vec<&str> = input.split_whitespace().collect();
    match parts.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [_wd, d, mo, y, t, "GMT"] if _wd.ends_with(',') && y.len() == 4 => {
            let (h, mi, s) = hms(t)?;
            to_ms(num(y)? as i64, month(mo)?, num(d)?, h, mi, s, 0)
        }
        // Sunday, 06-Nov-94 08:49:37 GMT
        [_wd, date, t, "GMT"] if _wd.ends_with(',') => {
            let mut dp = date.split('-');
            let d = num(dp.next()?)?;
            let mo = month(dp.next()?)?;
            let yy = num(dp.next()?)? as i64;
            let y = if yy < 70 { 2000 + yy } else { 1900 + yy };
            let (h, mi, s) = hms(t)?;
            to_ms(y, mo, d, h, mi, s, 0)
        }
        // Sun Nov  6 08:49:37 1994
        [_wd, mo, d, t, y] => {
            let (h, mi, s) = hms(t)?;
            to_ms(num(y)? as i64, month(mo)?, num(d)?, h, mi, s, 0)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_a_wide_range() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn rfc3339_format_and_parse() {
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        let ms = 1_795_200_239_123; // 2026-11-22
        let s = format_rfc3339_ms(ms);
        assert_eq!(s, "2026-11-20T18:43:59.123Z");
        assert_eq!(parse_rfc3339_ms(&s), Some(ms));
        assert_eq!(
            parse_rfc3339_ms("2026-11-20 19:43:59.123456+01:00"),
            Some(ms)
        );
        assert_eq!(parse_rfc3339_ms("2026-11-20T18:43:59.1Z"), Some(ms - 23));
        assert_eq!(parse_rfc3339_ms("2026-11-20T18:43:59+00"), Some(ms - 123));
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-20T16:43:59",
            "2026-11-20T16:43:59.Z",
            "not a date at all!!",
            "2026-11-20T16:43:59+0100",
        ] {
            assert_eq!(parse_rfc3339_ms(bad), None, "{bad}");
        }
        assert!(parse_rfc3339_ms("2024-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn rfc3339_is_written_as_format_would() {
        for ms in [
            0,
            -1,
            1_795_200_239_123,
            253_402_300_799_999,  // 9999-12-31T23:59:59.999Z
            253_402_300_800_000,  // year 10000
            -62_135_596_800_000,  // 0001-01-01
            -62_167_219_200_001,  // the last millisecond of year -1
            -377_705_116_800_000, // year -10000
            i64::MAX / 4,
            i64::MIN / 4,
        ] {
            let (y, m, d, h, mi, s, milli) = utc_fields(ms);
            let want = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z");
            assert_eq!(format_rfc3339_ms(ms), want, "{ms}");
        }
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        let want = Some(784_111_777_000);
        assert_eq!(parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 GMT"), want);
        assert_eq!(parse_http_date_ms("Sunday, 06-Nov-94 08:49:37 GMT"), want);
        assert_eq!(parse_http_date_ms("Sun Nov  6 08:49:37 1994"), want);
        assert_eq!(parse_http_date_ms("Sun, 06 Nov 1994 08:49:37 PST"), None);
        assert_eq!(parse_http_date_ms("120"), None);
        assert_eq!(parse_http_date_ms("Sun, 06 Foo 1994 08:49:37 GMT"), None);
        // Found by the property tests: a huge year overflowed the arithmetic.
        assert_eq!(parse_http_date_ms("Sun Nov  6 08:49:37 4294967295"), None);
    }
}
