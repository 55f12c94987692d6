import { CronExpressionParser } from "cron-parser";
import { InvalidInputError } from "../errors.ts";

/**
 * Schedule arithmetic, pure: no clock is read here. Callers pass the instant to count from
 * (the database's now(), so every process agrees on what is due).
 *
 * Expressions are standard 5-field crontab lines (minute hour day-of-month month day-of-week),
 * or 6 fields whose first is seconds, or one of cron-parser's @aliases (@hourly, @daily, ...).
 * Times are read in an IANA time zone. Across DST changes: a wall-clock time that does not exist
 * (02:30 on a spring-forward night) fires at the same offset after the gap (03:30); one that
 * happens twice (01:30 on a fall-back night) fires once, at its first occurrence; "every hour"
 * style schedules fire once per real hour throughout.
 */

/** cron-parser's aliases (its table is not exported). */
const ALIASES = [
  "@yearly",
  "@annually",
  "@monthly",
  "@weekly",
  "@daily",
  "@hourly",
  "@minutely",
  "@secondly",
  "@weekdays",
  "@weekends",
];

/** An expression checked to parse as 5 or 6 fields (or an @alias); returned trimmed. */
export function parseSchedule(schedule: string, field = "schedule"): string {
  const trimmed = schedule.trim();
  const fields = trimmed.split(/\s+/);
  const alias = trimmed.startsWith("@");
  // cron-parser fills missing fields with "*" (so "* * *" would mean every minute); a typo that
  // drops a field should be an error, not a different schedule.
  if (alias ? !ALIASES.includes(trimmed) : fields.length < 5 || fields.length > 6) {
    throw new InvalidInputError(
      alias
        ? `${field}: unknown alias "${trimmed}" (known: ${ALIASES.join(", ")})`
        : `${field}: expected 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds first, got ${trimmed === "" ? "none" : `${fields.length} in "${trimmed}"`}`,
      { field },
    );
  }
  try {
    CronExpressionParser.parse(trimmed, { tz: "UTC", hashSeed: "validation" });
  } catch (error) {
    throw new InvalidInputError(
      `${field}: "${trimmed}" is not a valid cron expression: ${(error as Error).message}`,
      { field },
    );
  }
  return trimmed;
}

/** An IANA time zone name, in its canonical spelling ("america/new_york" -> "America/New_York"). */
export function parseTimezone(timezone: string, field = "timezone"): string {
  let canonical: string;
  try {
    canonical = new Intl.DateTimeFormat("en-US", { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    throw new InvalidInputError(
      `${field}: "${timezone}" is not an IANA time zone (e.g. "UTC", "Europe/Berlin", "America/New_York")`,
      { field },
    );
  }
  try {
    // cron-parser reads zones through luxon; make sure it agrees before we store the name.
    CronExpressionParser.parse("0 0 * * *", { tz: canonical }).next();
  } catch {
    throw new InvalidInputError(`${field}: time zone "${timezone}" is not supported`, { field });
  }
  return canonical;
}

export interface NextRunOptions {
  /** No run after this instant: past it the schedule is over (null). */
  endTime?: Date | null;
  /**
   * Seeds the `H` (hashed) fields, so one cron keeps one minute across recomputations instead of
   * a new random one each time; the cron's id.
   */
  seed?: string;
}

/**
 * The first time strictly after `after` that `schedule` names in `timezone`, or null when there
 * is none (past endTime, or an expression with no future date).
 */
export function nextRunTime(
  schedule: string,
  timezone: string,
  after: Date,
  options: NextRunOptions = {},
): Date | null {
  let next: Date;
  try {
    next = CronExpressionParser.parse(schedule, {
      tz: timezone,
      currentDate: after,
      hashSeed: options.seed ?? schedule,
    })
      .next()
      .toDate();
  } catch {
    return null;
  }
  if (options.endTime && next.getTime() > options.endTime.getTime()) return null;
  return next;
}
