//! A cron's schedule in its time zone, and its fire times as UTC instants.
//!
//! The expression is parsed by [`parse_schedule`] (croner, optional leading seconds, 5 or 6
//! fields or a shorthand, day-of-month OR day-of-week) and matched against the zone's **wall
//! clock**; each matching wall-clock time is then mapped to one instant:
//!
//! * a time that exists once fires at that instant;
//! * a time that occurs twice (the repeated hour when clocks go back) fires once, at its
//!   **first** occurrence; the second pass through that hour fires nothing;
//! * a time that does not exist (the hour skipped when clocks go forward) fires once, at the
//!   **first instant after the gap**; several such times of one gap (an every-15-minutes
//!   schedule skips four) fire once together, and also coincide with a tick at the first valid
//!   time (`03:00` when `02:00`-`02:59` is skipped): that is one fire time too.
//!
//! Fire times never go backwards and are whole seconds. croner's own search in a zone treats
//! expressions that are not one fixed time of day differently (`0 30 2,14 * * *` skips its
//! 02:30 tick in a gap) and, asked from the second pass of a repeated hour, answers a time of
//! the first pass, before its start; so croner is only asked for wall-clock matches, on a clock
//! without daylight saving, and the mapping to instants is done here.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;

use crate::protocol::validate::parse_schedule;

/// Most wall-clock matches examined for one [`Schedule::next_after`] (each step either returns
/// or jumps past a repeated hour or a gap, so two or three are the norm).
const MAX_STEPS: usize = 1000;

/// Longest gap or repeated period searched for its end: 8 days, in seconds.
const MAX_GAP_SECONDS: i64 = 8 * 24 * 3600;

/// A parsed cron schedule in its IANA time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: croner::Cron,
    tz: Tz,
}

impl Schedule {
    /// Parses `expression` (5 fields, 6 fields with leading seconds, or a shorthand such as
    /// `@daily`) in `timezone`, an IANA name such as `Europe/Paris`; `""` means UTC.
    ///
    /// The error says what is wrong, in the words of manifest validation.
    pub fn parse(expression: &str, timezone: &str) -> Result<Schedule, String> {
        let cron = parse_schedule(expression)
            .map_err(|message| format!("schedule {expression:?}: {message}"))?;
        let tz = if timezone.is_empty() {
            Tz::UTC
        } else {
            Tz::from_str(timezone).map_err(|_| {
                format!(
                    "timezone {timezone:?} is not an IANA time zone (e.g. \"Europe/Paris\", \"UTC\")"
                )
            })?
        };
        Ok(Schedule {
            expression: expression.trim().to_string(),
            cron,
            tz,
        })
    }

    /// The expression, as given (trimmed).
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The time zone the expression is evaluated in.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// The first fire time strictly after `after`; `None` when the schedule never fires again
    /// (a date that does not exist, such as `0 0 30 2 *`, or beyond the calendar croner
    /// handles).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Fire times are whole seconds: anything at or before the whole second is not after.
        let floor = after.trunc_subsecs(0);
        let mut local = floor.with_timezone(&self.tz).naive_local();
        for _ in 0..MAX_STEPS {
            local = self.next_wall_clock_match(local)?;
            match self.tz.from_local_datetime(&local) {
                LocalResult::Single(at) => {
                    let at = at.with_timezone(&Utc);
                    if at > after {
                        return Some(at);
                    }
                }
                LocalResult::Ambiguous(first, _) => {
                    if first.with_timezone(&Utc) > after {
                        return Some(first.with_timezone(&Utc));
                    }
                    // `after` is in the second pass of a repeated hour, whose every time fired
                    // in the first pass: continue from the end of the repeated hour.
                    let end = self.first_local_after(local, |mapped| {
                        !matches!(mapped, LocalResult::Ambiguous(..))
                    })?;
                    local = end.checked_sub_signed(Duration::seconds(1))?.max(local);
                }
                LocalResult::None => {
                    let (end_local, at) = self.end_of_gap(local)?;
                    if at > after {
                        return Some(at);
                    }
                    // This gap's fire time is not after `after`: continue past the gap (a
                    // match at its first valid time is the same fire time).
                    local = local.max(end_local);
                }
            }
        }
        None
    }

    /// Fire times `t` with `from < t <= to`, earliest first, at most `limit` of them: the ticks
    /// a supervisor that was down from `from` to `to` missed.
    pub fn occurrences_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut times = Vec::new();
        let mut cursor = from;
        while times.len() < limit {
            match self.next_after(cursor) {
                Some(at) if at <= to => {
                    times.push(at);
                    cursor = at;
                }
                _ => break,
            }
        }
        times
    }

    /// [`Schedule::next_after`] in the schedule's zone, for display: its `to_rfc3339()` carries
    /// the zone's offset at that instant (`2026-03-29T09:00:00+02:00`).
    pub fn next_local(&self, after: DateTime<Utc>) -> Option<DateTime<Tz>> {
        self.next_after(after).map(|at| at.with_timezone(&self.tz))
    }

    /// The first wall-clock time strictly after `local` that the expression matches, on a
    /// clock without daylight saving (croner evaluated in UTC).
    fn next_wall_clock_match(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        self.cron
            .find_next_occurrence(&local.and_utc(), false)
            .ok()
            .map(|at| at.naive_utc())
    }

    /// For a wall-clock time inside a gap: the first wall-clock time after the gap and the
    /// instant it stands for (the moment the clocks changed).
    fn end_of_gap(&self, local: NaiveDateTime) -> Option<(NaiveDateTime, DateTime<Utc>)> {
        let end = self.first_local_after(local, |mapped| mapped.earliest().is_some())?;
        let at = self.tz.from_local_datetime(&end).earliest()?;
        Some((end, at.with_timezone(&Utc)))
    }

    /// The first wall-clock time `local + k` seconds (`k >= 1`) whose mapping to instants
    /// satisfies `holds`, for a property that fails on the rest of a gap or repeated hour and
    /// holds after it. `None` when it does not hold within [`MAX_GAP_SECONDS`].
    fn first_local_after(
        &self,
        local: NaiveDateTime,
        holds: impl Fn(LocalResult<DateTime<Tz>>) -> bool,
    ) -> Option<NaiveDateTime> {
        let at = |seconds: i64| local.checked_add_signed(Duration::seconds(seconds));
        let holds_at = |seconds: i64| -> Option<bool> {
            Some(holds(self.tz.from_local_datetime(&at(seconds)?)))
        };
        // Double until it holds, then bisect (fails at `low`, holds at `high`).
        let mut high = 1;
        while !holds_at(high)? {
            if high > MAX_GAP_SECONDS {
                return None;
            }
            high *= 2;
        }
        let mut low = high / 2;
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if holds_at(middle)? {
                high = middle;
            } else {
                low = middle;
            }
        }
        at(high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Weekday};

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .with_timezone(&Utc)
    }

    fn schedule(expression: &str, timezone: &str) -> Schedule {
        Schedule::parse(expression, timezone).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The next `n` fire times after `after`, as RFC 3339 UTC strings.
    fn next_n(schedule: &Schedule, after: &str, n: usize) -> Vec<String> {
        let mut cursor = utc(after);
        let mut times = Vec::new();
        for _ in 0..n {
            let at = schedule.next_after(cursor).expect("a next fire time");
            assert!(at > cursor, "{at} is not after {cursor}");
            times.push(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
            cursor = at;
        }
        times
    }

    #[test]
    fn parse_errors_and_defaults() {
        let s = schedule("  0 9 * * *  ", "");
        assert_eq!(s.timezone(), Tz::UTC);
        assert_eq!(s.expression(), "0 9 * * *");
        let err = Schedule::parse("0 9 * *", "UTC").unwrap_err();
        assert!(err.contains("4 fields"), "{err}");
        let err = Schedule::parse("0 9 * * *", "Mars/Olympus").unwrap_err();
        assert!(err.contains("not an IANA time zone"), "{err}");
        assert!(Schedule::parse("61 * * * *", "").is_err());
        assert!(Schedule::parse("@reboot", "").is_err());
    }

    #[test]
    fn paris_nine_am_across_both_changes() {
        let s = schedule("0 9 * * *", "Europe/Paris");
        // 09:00 CET is 08:00Z; from Sunday 29 March (CEST) it is 07:00Z.
        assert_eq!(
            next_n(&s, "2026-03-27T12:00:00Z", 3),
            [
                "2026-03-28T08:00:00Z",
                "2026-03-29T07:00:00Z",
                "2026-03-30T07:00:00Z"
            ]
        );
        assert_eq!(
            next_n(&s, "2026-10-23T12:00:00Z", 3),
            [
                "2026-10-24T07:00:00Z",
                "2026-10-25T08:00:00Z",
                "2026-10-26T08:00:00Z"
            ]
        );
    }

    #[test]
    fn paris_time_in_the_gap_fires_right_after_it() {
        // 02:30 does not exist on 29 March 2026 (02:00 CET -> 03:00 CEST at 01:00Z).
        let s = schedule("0 30 2 * * *", "Europe/Paris");
        assert_eq!(
            next_n(&s, "2026-03-27T12:00:00Z", 3),
            [
                "2026-03-28T01:30:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-30T00:30:00Z"
            ]
        );
        let local = s.next_local(utc("2026-03-28T12:00:00Z")).unwrap();
        assert_eq!(local.to_rfc3339(), "2026-03-29T03:00:00+02:00");
        // The same rule for a time that is one of several in the day.
        let twice_a_day = schedule("0 30 2,14 * * *", "Europe/Paris");
        assert_eq!(
            next_n(&twice_a_day, "2026-03-28T14:00:00Z", 2),
            ["2026-03-29T01:00:00Z", "2026-03-29T12:30:00Z"]
        );
    }

    #[test]
    fn paris_repeated_time_fires_once_at_its_first_occurrence() {
        // 02:30 happens twice on 25 October 2026: 00:30Z (CEST) and 01:30Z (CET).
        let s = schedule("0 30 2 * * *", "Europe/Paris");
        assert_eq!(
            next_n(&s, "2026-10-24T12:00:00Z", 3),
            [
                "2026-10-25T00:30:00Z",
                "2026-10-26T01:30:00Z",
                "2026-10-27T01:30:00Z"
            ]
        );
        // Asked from inside the second pass (02:10 CET), before its 02:30: already fired.
        assert_eq!(
            next_n(&s, "2026-10-25T01:10:00Z", 1),
            ["2026-10-26T01:30:00Z"]
        );
        let local = s.next_local(utc("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(local.to_rfc3339(), "2026-10-25T02:30:00+02:00");
    }

    #[test]
    fn paris_hourly_across_both_changes() {
        let s = schedule("0 * * * *", "Europe/Paris");
        // Spring: 01:00 CET, then 02:00 does not exist and fires with 03:00 CEST (01:00Z).
        assert_eq!(
            next_n(&s, "2026-03-28T23:30:00Z", 3),
            [
                "2026-03-29T00:00:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T02:00:00Z"
            ]
        );
        // Autumn: 01:00 CEST, 02:00 CEST, (the second 02:00, CET, does not fire), 03:00 CET.
        assert_eq!(
            next_n(&s, "2026-10-24T22:30:00Z", 4),
            [
                "2026-10-24T23:00:00Z",
                "2026-10-25T00:00:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T03:00:00Z"
            ]
        );
        // From inside the second pass of the repeated hour.
        assert_eq!(
            next_n(&s, "2026-10-25T01:20:00Z", 1),
            ["2026-10-25T02:00:00Z"]
        );
    }

    #[test]
    fn every_quarter_hour_across_both_changes() {
        let s = schedule("*/15 * * * *", "Europe/Paris");
        // The four ticks of the missing hour fire once, with 03:00 CEST.
        assert_eq!(
            next_n(&s, "2026-03-29T00:40:00Z", 3),
            [
                "2026-03-29T00:45:00Z",
                "2026-03-29T01:00:00Z",
                "2026-03-29T01:15:00Z"
            ]
        );
        // The repeated hour fires in its first pass only.
        assert_eq!(
            next_n(&s, "2026-10-25T00:40:00Z", 3),
            [
                "2026-10-25T00:45:00Z",
                "2026-10-25T02:00:00Z",
                "2026-10-25T02:15:00Z"
            ]
        );
    }

    #[test]
    fn seconds_schedule_from_inside_a_repeated_hour() {
        let s = schedule("*/5 * * * * *", "Europe/Paris");
        // 02:30:00 CET: every 02:xx:x5 already fired in the CEST pass; next is 03:00:00 CET.
        assert_eq!(
            next_n(&s, "2026-10-25T01:30:00Z", 2),
            ["2026-10-25T02:00:00Z", "2026-10-25T02:00:05Z"]
        );
        // The end of the first pass (02:59:55 CEST) is followed by 03:00:00 CET, an hour later.
        assert_eq!(
            next_n(&s, "2026-10-25T00:59:52Z", 2),
            ["2026-10-25T00:59:55Z", "2026-10-25T02:00:00Z"]
        );
    }

    #[test]
    fn new_york_across_both_changes() {
        let nine = schedule("0 9 * * *", "America/New_York");
        assert_eq!(
            next_n(&nine, "2026-03-06T20:00:00Z", 3),
            [
                "2026-03-07T14:00:00Z",
                "2026-03-08T13:00:00Z",
                "2026-03-09T13:00:00Z"
            ]
        );
        assert_eq!(
            next_n(&nine, "2026-10-30T20:00:00Z", 3),
            [
                "2026-10-31T13:00:00Z",
                "2026-11-01T14:00:00Z",
                "2026-11-02T14:00:00Z"
            ]
        );
        // 02:30 does not exist on 8 March 2026 (02:00 EST -> 03:00 EDT at 07:00Z).
        let gap = schedule("30 2 * * *", "America/New_York");
        assert_eq!(
            next_n(&gap, "2026-03-07T12:00:00Z", 2),
            ["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"]
        );
        // 01:30 happens twice on 1 November 2026: 05:30Z (EDT), 06:30Z (EST).
        let fold = schedule("30 1 * * *", "America/New_York");
        assert_eq!(
            next_n(&fold, "2026-10-31T12:00:00Z", 2),
            ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
        );
        let hourly = schedule("0 * * * *", "America/New_York");
        assert_eq!(
            next_n(&hourly, "2026-11-01T04:30:00Z", 3),
            [
                "2026-11-01T05:00:00Z",
                "2026-11-01T07:00:00Z",
                "2026-11-01T08:00:00Z"
            ]
        );
    }

    #[test]
    fn a_whole_skipped_day() {
        // Samoa skipped 30 December 2011 (23:59:59 -10:00 -> 00:00 +14:00 on the 31st).
        let s = schedule("0 12 * * *", "Pacific/Apia");
        assert_eq!(
            next_n(&s, "2011-12-29T12:00:00Z", 3),
            [
                "2011-12-29T22:00:00Z",
                "2011-12-30T10:00:00Z",
                "2011-12-30T22:00:00Z"
            ]
        );
    }

    #[test]
    fn utc_is_unaffected() {
        let s = schedule("0 30 2 * * *", "");
        assert_eq!(
            next_n(&s, "2026-03-28T12:00:00Z", 2),
            ["2026-03-29T02:30:00Z", "2026-03-30T02:30:00Z"]
        );
        assert_eq!(
            next_n(&s, "2026-10-24T12:00:00Z", 2),
            ["2026-10-25T02:30:00Z", "2026-10-26T02:30:00Z"]
        );
        let local = s.next_local(utc("2026-10-24T12:00:00Z")).unwrap();
        assert_eq!(local.to_rfc3339(), "2026-10-25T02:30:00+00:00");
    }

    #[test]
    fn five_fields_are_classic_cron_with_day_or() {
        // The 1st of the month OR a Monday (not "a 1st that is a Monday").
        let s = schedule("0 0 1 * 1", "UTC");
        let times = next_n(&s, "2026-06-29T12:00:00Z", 4);
        assert_eq!(
            times,
            [
                "2026-07-01T00:00:00Z",
                "2026-07-06T00:00:00Z",
                "2026-07-13T00:00:00Z",
                "2026-07-20T00:00:00Z"
            ]
        );
        assert_eq!(utc(&times[0]).weekday(), Weekday::Wed);
        assert_eq!(utc(&times[1]).weekday(), Weekday::Mon);
        // A day-of-month alone restricts alone.
        let first = schedule("0 0 1 * *", "UTC");
        assert_eq!(
            next_n(&first, "2026-06-29T12:00:00Z", 2),
            ["2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z"]
        );
    }

    #[test]
    fn quarter_hours() {
        let s = schedule("*/15 * * * *", "");
        assert_eq!(
            next_n(&s, "2026-05-04T10:07:00Z", 2),
            ["2026-05-04T10:15:00Z", "2026-05-04T10:30:00Z"]
        );
        // Strictly after: a fire time is not its own next.
        assert_eq!(
            next_n(&s, "2026-05-04T10:15:00Z", 1),
            ["2026-05-04T10:30:00Z"]
        );
        let almost = utc("2026-05-04T10:14:59.999Z");
        assert_eq!(s.next_after(almost), Some(utc("2026-05-04T10:15:00Z")));
        let just_after = utc("2026-05-04T10:15:00.001Z");
        assert_eq!(s.next_after(just_after), Some(utc("2026-05-04T10:30:00Z")));
    }

    #[test]
    fn six_fields_every_five_seconds() {
        let s = schedule("*/5 * * * * *", "");
        assert_eq!(
            next_n(&s, "2026-05-04T10:00:02Z", 3),
            [
                "2026-05-04T10:00:05Z",
                "2026-05-04T10:00:10Z",
                "2026-05-04T10:00:15Z"
            ]
        );
    }

    #[test]
    fn shorthands() {
        let daily = schedule("@daily", "Europe/Paris");
        assert_eq!(
            next_n(&daily, "2026-03-28T12:00:00Z", 2),
            ["2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z"]
        );
        let midnight = schedule("@midnight", "");
        assert_eq!(
            next_n(&midnight, "2026-05-04T10:00:00Z", 1),
            ["2026-05-05T00:00:00Z"]
        );
        let hourly = schedule("@hourly", "");
        assert_eq!(
            next_n(&hourly, "2026-05-04T10:00:00Z", 1),
            ["2026-05-04T11:00:00Z"]
        );
        let weekly = schedule("@weekly", "");
        let sunday = utc(&next_n(&weekly, "2026-05-04T10:00:00Z", 1)[0]);
        assert_eq!(sunday.weekday(), Weekday::Sun);
        let monthly = schedule("@monthly", "");
        assert_eq!(
            next_n(&monthly, "2026-05-04T10:00:00Z", 1),
            ["2026-06-01T00:00:00Z"]
        );
        for yearly in ["@yearly", "@annually"] {
            assert_eq!(
                next_n(&schedule(yearly, ""), "2026-05-04T10:00:00Z", 1),
                ["2027-01-01T00:00:00Z"]
            );
        }
    }

    #[test]
    fn a_date_that_never_comes() {
        let s = schedule("0 0 30 2 *", "");
        assert_eq!(s.next_after(utc("2026-05-04T10:00:00Z")), None);
        assert!(s
            .occurrences_between(utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"), 10)
            .is_empty());
    }

    #[test]
    fn occurrences_between_bounds_and_limit() {
        let s = schedule("@hourly", "");
        let from = utc("2026-05-04T10:00:00Z");
        let to = utc("2026-05-04T13:00:00Z");
        let all: Vec<String> = s
            .occurrences_between(from, to, 100)
            .iter()
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .collect();
        assert_eq!(
            all,
            [
                "2026-05-04T11:00:00Z",
                "2026-05-04T12:00:00Z",
                "2026-05-04T13:00:00Z"
            ]
        );
        assert_eq!(s.occurrences_between(from, to, 2).len(), 2);
        assert!(s.occurrences_between(to, from, 10).is_empty());
        // Missed ticks across a change count each fire time once.
        let paris = schedule("0 * * * *", "Europe/Paris");
        let missed = paris.occurrences_between(
            utc("2026-10-24T22:30:00Z"),
            utc("2026-10-25T03:30:00Z"),
            100,
        );
        assert_eq!(missed.len(), 4);
    }
}
