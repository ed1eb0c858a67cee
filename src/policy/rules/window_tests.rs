use super::super::testing::{context, request, ts};
use super::*;
use crate::policy::facts::Facts;

fn weekdays(from: &str, to: &str) -> Vec<WeekRange> {
    let (from, to) = (
        parse_time_of_day(from).unwrap(),
        parse_time_of_day(to).unwrap(),
    );
    (0..5)
        .map(|d| WeekRange::new(d * DAY + from, d * DAY + to, format!("day {d}")).unwrap())
        .collect()
}

fn weekly(from: &str, to: &str) -> WeekRange {
    WeekRange::new(
        parse_time_of_week(from).unwrap(),
        parse_time_of_week(to).unwrap(),
        format!("{from} - {to}"),
    )
    .unwrap()
}

fn windows(zone: &str, allow: Vec<WeekRange>, freezes: Vec<Freeze>) -> Windows {
    Windows {
        time_zone: TimeZone::get(zone).unwrap(),
        zone_name: zone.into(),
        allow,
        freezes,
    }
}

/// The combined outcome: `open`, or what it waits for and until when.
fn judge(w: &Windows, now: &str) -> (String, Option<Timestamp>) {
    let facts = Facts::default();
    let req = request("r:1");
    let mut out = Vec::new();
    w.check(&context(&req, &facts, now), &mut out);
    for f in out {
        if let StepResult::Wait { waiting_for, until } = f.result {
            return (waiting_for.as_str().to_string(), until);
        }
    }
    ("open".to_string(), None)
}

#[test]
fn office_hours_follow_the_wall_clock_across_daylight_saving() {
    let berlin = windows("Europe/Berlin", weekdays("09:00", "17:00"), vec![]);
    let new_york = windows("America/New_York", weekdays("09:00", "17:00"), vec![]);
    let cases = [
        // Berlin leaves CET (UTC+1) for CEST (UTC+2) on Sunday 2026-03-29.
        (
            "berlin winter 07:30Z is 08:30",
            &berlin,
            "2026-03-27T07:30:00Z",
            "deploy window",
            Some("2026-03-27T08:00:00Z"),
        ),
        (
            "berlin summer 07:30Z is 09:30",
            &berlin,
            "2026-03-30T07:30:00Z",
            "open",
            None,
        ),
        (
            "berlin last winter minute",
            &berlin,
            "2026-03-27T15:59:00Z",
            "open",
            None,
        ),
        (
            "berlin window end is exclusive",
            &berlin,
            "2026-03-27T16:00:00Z",
            "deploy window",
            Some("2026-03-30T07:00:00Z"),
        ),
        (
            "berlin weekend waits for summer monday",
            &berlin,
            "2026-03-28T12:00:00Z",
            "deploy window",
            Some("2026-03-30T07:00:00Z"),
        ),
        // Berlin returns to CET on Sunday 2026-10-25.
        (
            "berlin friday before fall back",
            &berlin,
            "2026-10-23T16:30:00Z",
            "deploy window",
            Some("2026-10-26T08:00:00Z"),
        ),
        // New York enters EDT (UTC-4) on Sunday 2026-03-08.
        (
            "new york winter 13:30Z is 08:30",
            &new_york,
            "2026-03-06T13:30:00Z",
            "deploy window",
            Some("2026-03-06T14:00:00Z"),
        ),
        (
            "new york summer 13:30Z is 09:30",
            &new_york,
            "2026-03-09T13:30:00Z",
            "open",
            None,
        ),
        (
            "new york weekend opens monday in EDT",
            &new_york,
            "2026-03-07T18:00:00Z",
            "deploy window",
            Some("2026-03-09T13:00:00Z"),
        ),
    ];
    for (name, w, now, want, until) in cases {
        assert_eq!(judge(w, now), (want.to_string(), until.map(ts)), "{name}");
    }
}

#[test]
fn ranges_in_skipped_and_repeated_hours() {
    // 02:00-03:00 local on Sunday does not exist on 2026-03-29 in Berlin and happens twice on 2026-10-25.
    let night = windows(
        "Europe/Berlin",
        vec![weekly("sun 02:00", "sun 03:00")],
        vec![],
    );
    let cases = [
        (
            "skipped hour: 01:30Z is 03:30 CEST",
            "2026-03-29T01:30:00Z",
            "deploy window",
            Some("2026-04-05T00:00:00Z"),
        ),
        (
            "before the gap: 00:30Z is 01:30 CET",
            "2026-03-29T00:30:00Z",
            "deploy window",
            Some("2026-03-29T01:00:00Z"),
        ),
        (
            "repeated hour, first pass (CEST)",
            "2026-10-25T00:30:00Z",
            "open",
            None,
        ),
        (
            "repeated hour, second pass (CET)",
            "2026-10-25T01:30:00Z",
            "open",
            None,
        ),
        (
            "after the repeated hour",
            "2026-10-25T02:00:00Z",
            "deploy window",
            Some("2026-11-01T01:00:00Z"),
        ),
    ];
    for (name, now, want, until) in cases {
        assert_eq!(
            judge(&night, now),
            (want.to_string(), until.map(ts)),
            "{name}"
        );
    }
}

#[test]
fn freezes_beat_windows_and_wrap_the_week() {
    let dated = Freeze::Dated {
        start: ts("2026-12-23T00:00:00Z"),
        end: ts("2027-01-04T07:00:00Z"),
        label: "holidays".into(),
    };
    let w = windows(
        "Europe/Berlin",
        weekdays("00:00", "24:00"),
        vec![Freeze::Weekly(weekly("fri 16:00", "mon 08:00")), dated],
    );
    let cases = [
        ("thursday open", "2026-06-11T12:00:00Z", "open", None),
        (
            "friday evening frozen until monday 08:00 CEST",
            "2026-06-12T15:00:00Z",
            "end of freeze",
            Some("2026-06-15T06:00:00Z"),
        ),
        (
            "sunday frozen",
            "2026-06-14T12:00:00Z",
            "end of freeze",
            Some("2026-06-15T06:00:00Z"),
        ),
        ("monday 08:00 thaws", "2026-06-15T06:00:00Z", "open", None),
        (
            "holiday freeze",
            "2026-12-29T10:00:00Z",
            "end of freeze",
            Some("2027-01-04T07:00:00Z"),
        ),
        (
            "end of holiday freeze is open",
            "2027-01-04T07:00:00Z",
            "open",
            None,
        ),
    ];
    for (name, now, want, until) in cases {
        assert_eq!(judge(&w, now), (want.to_string(), until.map(ts)), "{name}");
    }
}

#[test]
fn times_and_days_parse_strictly() {
    let cases = [
        ("09:00", Some(540)),
        ("24:00", Some(1440)),
        ("24:01", None),
        ("9:00", None),
        ("09:60", None),
        ("nine", None),
    ];
    for (text, want) in cases {
        assert_eq!(parse_time_of_day(text), want, "{text}");
    }
    let days = [
        ("mon", Some(0)),
        ("Sunday", Some(6)),
        ("fri", Some(4)),
        ("frid", None),
        ("x", None),
    ];
    for (text, want) in days {
        assert_eq!(parse_weekday(text), want, "{text}");
    }
    assert_eq!(parse_time_of_week("tue 01:30"), Some(DAY + 90));
    assert!(
        WeekRange::new(10, 10, String::new()).is_none(),
        "empty range"
    );
}
