//! Deploy windows and freezes: time-of-week ranges in a named time zone.
//!
//! Ranges are wall-clock times in the zone, so `09:00` stays nine in the
//! morning across daylight-saving changes. The wall clock never shows a
//! skipped hour, so a range lying inside one does not happen that day; in a
//! repeated hour the wall clock is inside the range both times.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

use super::{Context, Finding};
use crate::policy::decision::{StepResult, WaitFor};

/// Minutes in a day and in a week.
const DAY: u32 = 24 * 60;
const WEEK: u32 = 7 * DAY;

/// A range of the week, in minutes since Monday 00:00 local time; it may wrap
/// past Sunday midnight (`start > end`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekRange {
    start: u32,
    end: u32,
    /// As written, for traces.
    pub label: String,
}

impl WeekRange {
    /// From minute-of-week `start` to `end`; `None` when empty or out of range.
    pub fn new(start: u32, end: u32, label: String) -> Option<Self> {
        (start < WEEK && end <= WEEK && start % WEEK != end % WEEK).then_some(WeekRange {
            start,
            end: end % WEEK,
            label,
        })
    }

    fn contains(&self, minute: u32) -> bool {
        if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        }
    }
}

/// A freeze: every week, or once between two dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freeze {
    /// A weekly range.
    Weekly(WeekRange),
    /// From `start` to `end`, once.
    Dated {
        /// First frozen instant.
        start: Timestamp,
        /// First instant after the freeze.
        end: Timestamp,
        /// As written, for traces.
        label: String,
    },
}

/// `windows`: when deploys may happen, and when they are frozen.
#[derive(Debug, Clone)]
pub struct Windows {
    /// The zone the ranges are written in.
    pub time_zone: TimeZone,
    /// Its name as written.
    pub zone_name: String,
    /// Open ranges; empty means always open (outside freezes).
    pub allow: Vec<WeekRange>,
    /// Closed ranges; they beat `allow`.
    pub freezes: Vec<Freeze>,
}

/// `HH:MM`, `00:00` to `24:00`, as minutes of the day.
pub fn parse_time_of_day(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h * 60 + m;
    (m < 60 && minutes <= DAY).then_some(minutes)
}

/// `mon` .. `sun` (or full English names) as days since Monday.
pub fn parse_weekday(text: &str) -> Option<u32> {
    let lower = text.trim().to_ascii_lowercase();
    let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    names
        .iter()
        .position(|n| lower.starts_with(n) && is_day_name(&lower, n))
        .and_then(|i| u32::try_from(i).ok())
}

fn is_day_name(text: &str, short: &str) -> bool {
    let full = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    text == short || full.iter().any(|f| *f == text && f.starts_with(short))
}

/// `fri 16:00` as minutes since Monday 00:00.
pub fn parse_time_of_week(text: &str) -> Option<u32> {
    let (day, time) = text.trim().split_once(' ')?;
    Some(parse_weekday(day)? * DAY + parse_time_of_day(time)?)
}

fn minute_of_week(zoned: &Zoned) -> u32 {
    let day = u32::try_from(zoned.weekday().to_monday_zero_offset()).unwrap_or(0);
    let hour = u32::try_from(zoned.hour()).unwrap_or(0);
    let minute = u32::try_from(zoned.minute()).unwrap_or(0);
    day * DAY + hour * 60 + minute
}

/// The first instant after `now` whose wall clock is at minute-of-week `target`.
fn next_occurrence(target: u32, now: &Zoned) -> Option<Timestamp> {
    let target = target % WEEK;
    let (day, minute) = (target / DAY, target % DAY);
    let today: Date = now.date();
    (0..=7i64).find_map(|offset| {
        let date = today.checked_add(jiff::Span::new().days(offset)).ok()?;
        if u32::try_from(date.weekday().to_monday_zero_offset()).ok()? != day {
            return None;
        }
        let hour = i8::try_from(minute / 60).ok()?;
        let min = i8::try_from(minute % 60).ok()?;
        let at = DateTime::from_parts(date, jiff::civil::time(hour, min, 0, 0));
        let instant = now.time_zone().to_ambiguous_zoned(at).compatible().ok()?;
        (instant.timestamp() > now.timestamp()).then(|| instant.timestamp())
    })
}

impl Windows {
    pub(super) fn check(&self, ctx: &Context<'_>, out: &mut Vec<Finding>) {
        let local = ctx.now.to_zoned(self.time_zone.clone());
        let minute = minute_of_week(&local);
        let shown = local.strftime("%a %H:%M %Z").to_string();
        out.push(self.freeze(ctx.now, &local, minute, &shown));
        out.push(self.allow(&local, minute, &shown));
    }

    fn freeze(&self, now: Timestamp, local: &Zoned, minute: u32, shown: &str) -> Finding {
        const RULE: &str = "windows.freeze";
        let mut ends = self.freezes.iter().filter_map(|f| match f {
            Freeze::Weekly(r) if r.contains(minute) => {
                Some((r.label.as_str(), next_occurrence(r.end, local)))
            }
            Freeze::Dated { start, end, label } if (*start..*end).contains(&now) => {
                Some((label.as_str(), Some(*end)))
            }
            _ => None,
        });
        match ends.next() {
            None => Finding::pass(
                RULE,
                format!("{shown} ({}) is in no freeze", self.zone_name),
            ),
            Some((label, until)) => Finding {
                rule: RULE,
                compared: format!("{shown} ({}) is inside freeze {label}", self.zone_name),
                result: StepResult::Wait {
                    waiting_for: WaitFor::Freeze,
                    until,
                },
            },
        }
    }

    fn allow(&self, local: &Zoned, minute: u32, shown: &str) -> Finding {
        const RULE: &str = "windows.allow";
        if self.allow.is_empty() {
            return Finding::pass(RULE, "no windows: always open outside freezes".into());
        }
        if let Some(open) = self.allow.iter().find(|r| r.contains(minute)) {
            return Finding::pass(
                RULE,
                format!(
                    "{shown} ({}) is inside window {}",
                    self.zone_name, open.label
                ),
            );
        }
        let next = self
            .allow
            .iter()
            .filter_map(|r| next_occurrence(r.start, local))
            .min();
        let labels: Vec<&str> = self.allow.iter().map(|r| r.label.as_str()).collect();
        Finding {
            rule: RULE,
            compared: format!(
                "{shown} ({}) is outside windows [{}]",
                self.zone_name,
                labels.join(", ")
            ),
            result: StepResult::Wait {
                waiting_for: WaitFor::Window,
                until: next,
            },
        }
    }
}

/// Weekday names for messages.
pub fn weekday_name(day: u32) -> &'static str {
    match Weekday::from_monday_zero_offset(i8::try_from(day).unwrap_or(0)) {
        Ok(Weekday::Monday) => "mon",
        Ok(Weekday::Tuesday) => "tue",
        Ok(Weekday::Wednesday) => "wed",
        Ok(Weekday::Thursday) => "thu",
        Ok(Weekday::Friday) => "fri",
        Ok(Weekday::Saturday) => "sat",
        _ => "sun",
    }
}

#[cfg(test)]
#[path = "window_tests.rs"]
mod tests;
