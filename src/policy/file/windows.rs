//! The `windows` section: a time zone, open ranges and freezes.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::Deserialize;
use serde_saphyr::{Location, Spanned};

use super::Builder;
use crate::policy::PolicyError;
use crate::policy::rules::Windows;
use crate::policy::rules::window::{
    Freeze, WeekRange, parse_time_of_day, parse_time_of_week, parse_weekday,
};

const DAY: u32 = 24 * 60;
const WEEK: u32 = 7 * DAY;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindows {
    time_zone: Spanned<String>,
    #[serde(default)]
    allow: Vec<Spanned<RawRange>>,
    #[serde(default)]
    freeze: Vec<Spanned<RawRange>>,
}

/// One range, in one of three shapes: `days` with `from`/`to` times of day;
/// `from`/`to` times of week (`fri 16:00`); or `start`/`end` dates (freezes only).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRange {
    #[serde(default)]
    days: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    from: Option<Spanned<String>>,
    #[serde(default)]
    to: Option<Spanned<String>>,
    #[serde(default)]
    start: Option<Spanned<String>>,
    #[serde(default)]
    end: Option<Spanned<String>>,
}

pub(super) fn build(b: &Builder<'_>, raw: RawWindows) -> Result<Windows, PolicyError> {
    let zone = TimeZone::get(&raw.time_zone.value).map_err(|_| {
        b.invalid(
            &raw.time_zone.referenced,
            "windows.time_zone",
            format!(
                "unknown time zone {:?} (use an IANA name such as Europe/Berlin)",
                raw.time_zone.value
            ),
        )
    })?;
    let mut allow = Vec::new();
    for (i, range) in raw.allow.into_iter().enumerate() {
        let field = format!("windows.allow[{i}]");
        match range_of(b, range, &field, &zone, false)? {
            Built::Weekly(ranges) => allow.extend(ranges),
            // `range_of` refuses dated ranges here.
            Built::Dated(_) => {}
        }
    }
    let mut freezes = Vec::new();
    for (i, range) in raw.freeze.into_iter().enumerate() {
        let field = format!("windows.freeze[{i}]");
        match range_of(b, range, &field, &zone, true)? {
            Built::Weekly(ranges) => freezes.extend(ranges.into_iter().map(Freeze::Weekly)),
            Built::Dated(freeze) => freezes.push(freeze),
        }
    }
    Ok(Windows {
        time_zone: zone,
        zone_name: raw.time_zone.value,
        allow,
        freezes,
    })
}

enum Built {
    Weekly(Vec<WeekRange>),
    Dated(Freeze),
}

fn range_of(
    b: &Builder<'_>,
    range: Spanned<RawRange>,
    field: &str,
    zone: &TimeZone,
    dated_allowed: bool,
) -> Result<Built, PolicyError> {
    let at = range.referenced;
    let r = range.value;
    match (r.start, r.end, r.from, r.to) {
        (Some(start), Some(end), None, None) if r.days.is_none() => {
            if !dated_allowed {
                return Err(b.invalid(
                    &at,
                    field,
                    "start/end dates are for freezes; windows repeat weekly",
                ));
            }
            dated(b, start, end, field, zone)
        }
        (None, None, Some(from), Some(to)) => weekly(b, r.days, from, to, field),
        _ => Err(b.invalid(
            &at,
            field,
            "give `from` and `to` (with optional `days`), or `start` and `end` for a dated freeze",
        )),
    }
}

fn weekly(
    b: &Builder<'_>,
    days: Option<Vec<Spanned<String>>>,
    from: Spanned<String>,
    to: Spanned<String>,
    field: &str,
) -> Result<Built, PolicyError> {
    let label = format!("{} - {}", from.value, to.value);
    if days.is_none()
        && let (Some(start), Some(end)) = (
            parse_time_of_week(&from.value),
            parse_time_of_week(&to.value),
        )
    {
        let range = WeekRange::new(start, end, label)
            .ok_or_else(|| b.invalid(&to.referenced, &format!("{field}.to"), "equals `from`"))?;
        return Ok(Built::Weekly(vec![range]));
    }
    let time = |s: &Spanned<String>, name: &str| {
        parse_time_of_day(&s.value).ok_or_else(|| {
            b.invalid(
                &s.referenced,
                &format!("{field}.{name}"),
                format!(
                    "{:?} is not HH:MM (or `fri 16:00` without `days`); quote it in YAML",
                    s.value
                ),
            )
        })
    };
    let (start, end) = (time(&from, "from")?, time(&to, "to")?);
    if start == end {
        return Err(b.invalid(&to.referenced, &format!("{field}.to"), "equals `from`"));
    }
    let day_list = match days {
        None => (0..7).collect(),
        Some(days) => day_numbers(b, &days, field)?,
    };
    let label = match day_list.len() {
        7 => format!("daily {label}"),
        _ => format!("{} {label}", day_names(&day_list)),
    };
    let ranges = day_list
        .iter()
        .filter_map(|d| {
            // An end at or before the start runs into the next day.
            let end_of = if end > start {
                d * DAY + end
            } else {
                (d + 1) * DAY + end
            };
            let end_of = if end_of > WEEK { end_of - WEEK } else { end_of };
            WeekRange::new(d * DAY + start, end_of, label.clone())
        })
        .collect();
    Ok(Built::Weekly(ranges))
}

fn day_numbers(
    b: &Builder<'_>,
    days: &[Spanned<String>],
    field: &str,
) -> Result<Vec<u32>, PolicyError> {
    let mut out = Vec::new();
    for (i, d) in days.iter().enumerate() {
        let bad = || {
            b.invalid(
                &d.referenced,
                &format!("{field}.days[{i}]"),
                format!("{:?} is not a day (mon..sun) or a span (mon-fri)", d.value),
            )
        };
        let (first, last) = match d.value.split_once('-') {
            Some((a, z)) => (
                parse_weekday(a).ok_or_else(bad)?,
                parse_weekday(z).ok_or_else(bad)?,
            ),
            None => {
                let one = parse_weekday(&d.value).ok_or_else(bad)?;
                (one, one)
            }
        };
        let mut day = first;
        loop {
            if !out.contains(&day) {
                out.push(day);
            }
            if day == last {
                break;
            }
            day = (day + 1) % 7;
        }
    }
    if out.is_empty() {
        return Err(b.invalid(
            &Location::UNKNOWN,
            &format!("{field}.days"),
            "no days listed",
        ));
    }
    Ok(out)
}

fn day_names(days: &[u32]) -> String {
    days.iter()
        .map(|d| crate::policy::rules::window::weekday_name(*d))
        .collect::<Vec<_>>()
        .join(",")
}

fn dated(
    b: &Builder<'_>,
    start: Spanned<String>,
    end: Spanned<String>,
    field: &str,
    zone: &TimeZone,
) -> Result<Built, PolicyError> {
    let instant = |s: &Spanned<String>, name: &str| {
        s.value
            .parse::<DateTime>()
            .ok()
            .and_then(|dt| zone.to_ambiguous_zoned(dt).compatible().ok())
            .map(|z| z.timestamp())
            .ok_or_else(|| {
                b.invalid(
                    &s.referenced,
                    &format!("{field}.{name}"),
                    format!(
                        "{:?} is not a local date and time like 2026-12-23T18:00",
                        s.value
                    ),
                )
            })
    };
    let (from, until) = (instant(&start, "start")?, instant(&end, "end")?);
    if until <= from {
        return Err(b.invalid(
            &end.referenced,
            &format!("{field}.end"),
            "is not after `start`",
        ));
    }
    Ok(Built::Dated(Freeze::Dated {
        start: from,
        end: until,
        label: format!("{} - {}", start.value, end.value),
    }))
}
