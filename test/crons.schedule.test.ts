import { nextRunTime, parseSchedule, parseTimezone } from "../src/crons/schedule.ts";
import { InvalidInputError } from "../src/errors.ts";

/** The next `count` run times after `from`, as ISO strings (UTC). */
function runs(schedule: string, timezone: string, from: string, count = 3): string[] {
  const out: string[] = [];
  let after = new Date(from);
  for (let i = 0; i < count; i++) {
    const next = nextRunTime(schedule, timezone, after, { seed: "test" });
    if (!next) break;
    out.push(next.toISOString());
    after = next;
  }
  return out;
}

function fieldOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError).field;
  }
  throw new Error("expected an InvalidInputError");
}

describe("nextRunTime", () => {
  it("is strictly after the instant it counts from", () => {
    expect(runs("* * * * * *", "UTC", "2025-01-01T00:00:01.000Z", 2)).toEqual([
      "2025-01-01T00:00:02.000Z",
      "2025-01-01T00:00:03.000Z",
    ]);
    expect(runs("0 * * * *", "UTC", "2025-01-01T01:00:00.000Z", 1)).toEqual([
      "2025-01-01T02:00:00.000Z",
    ]);
    expect(runs("*/15 * * * *", "UTC", "2025-01-01T01:07:30.500Z", 2)).toEqual([
      "2025-01-01T01:15:00.000Z",
      "2025-01-01T01:30:00.000Z",
    ]);
  });

  it("reads the schedule in the time zone (EST in winter, EDT in summer)", () => {
    expect(runs("0 9 * * *", "America/New_York", "2025-01-15T00:00:00Z", 1)).toEqual([
      "2025-01-15T14:00:00.000Z",
    ]);
    expect(runs("0 9 * * *", "America/New_York", "2025-07-15T00:00:00Z", 1)).toEqual([
      "2025-07-15T13:00:00.000Z",
    ]);
    expect(runs("0 9 * * MON-FRI", "Asia/Tokyo", "2025-01-17T12:00:00Z", 2)).toEqual([
      // Friday 09:00 JST already passed at 21:00 JST; next are Monday and Tuesday.
      "2025-01-20T00:00:00.000Z",
      "2025-01-21T00:00:00.000Z",
    ]);
  });

  it("America/New_York spring forward: a daily time keeps its wall clock across the change", () => {
    // 2025-03-09 02:00 EST -> 03:00 EDT.
    expect(runs("0 9 * * *", "America/New_York", "2025-03-08T00:00:00Z")).toEqual([
      "2025-03-08T14:00:00.000Z", // 09:00 EST
      "2025-03-09T13:00:00.000Z", // 09:00 EDT: 23 hours later
      "2025-03-10T13:00:00.000Z",
    ]);
  });

  it("America/New_York spring forward: a time inside the gap fires once, after the gap", () => {
    // 02:30 does not exist on 2025-03-09; the run happens at 03:30 EDT, once.
    expect(runs("30 2 * * *", "America/New_York", "2025-03-08T12:00:00Z")).toEqual([
      "2025-03-09T07:30:00.000Z", // 03:30 EDT
      "2025-03-10T06:30:00.000Z", // 02:30 EDT
      "2025-03-11T06:30:00.000Z",
    ]);
  });

  it("America/New_York spring forward: hourly runs skip the missing hour, none doubled", () => {
    expect(runs("0 * * * *", "America/New_York", "2025-03-09T05:30:00Z", 4)).toEqual([
      "2025-03-09T06:00:00.000Z", // 01:00 EST
      "2025-03-09T07:00:00.000Z", // 03:00 EDT (02:00 does not exist)
      "2025-03-09T08:00:00.000Z",
      "2025-03-09T09:00:00.000Z",
    ]);
  });

  it("America/New_York fall back: a repeated time fires once, at its first occurrence", () => {
    // 2025-11-02 02:00 EDT -> 01:00 EST: 01:30 happens twice.
    expect(runs("30 1 * * *", "America/New_York", "2025-11-01T12:00:00Z")).toEqual([
      "2025-11-02T05:30:00.000Z", // 01:30 EDT; not again at 01:30 EST (06:30Z)
      "2025-11-03T06:30:00.000Z", // 01:30 EST
      "2025-11-04T06:30:00.000Z",
    ]);
  });

  it("America/New_York fall back: hourly runs fire every real hour through the repeat", () => {
    expect(runs("0 * * * *", "America/New_York", "2025-11-02T04:30:00Z", 4)).toEqual([
      "2025-11-02T05:00:00.000Z", // 01:00 EDT
      "2025-11-02T06:00:00.000Z", // 01:00 EST
      "2025-11-02T07:00:00.000Z", // 02:00 EST
      "2025-11-02T08:00:00.000Z",
    ]);
  });

  it("Europe/Berlin: CET/CEST changes in March and October", () => {
    expect(runs("0 9 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z")).toEqual([
      "2025-03-30T07:00:00.000Z", // 09:00 CEST
      "2025-03-31T07:00:00.000Z",
      "2025-04-01T07:00:00.000Z",
    ]);
    expect(runs("0 9 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z")).toEqual([
      "2025-10-26T08:00:00.000Z", // 09:00 CET
      "2025-10-27T08:00:00.000Z",
      "2025-10-28T08:00:00.000Z",
    ]);
    // 02:30 is skipped on 2025-03-30 (fires at 03:30 CEST) and doubled on 2025-10-26 (fires once).
    expect(runs("30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z", 2)).toEqual([
      "2025-03-30T01:30:00.000Z",
      "2025-03-31T00:30:00.000Z",
    ]);
    expect(runs("30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z", 2)).toEqual([
      "2025-10-26T00:30:00.000Z",
      "2025-10-27T01:30:00.000Z",
    ]);
  });

  it("returns null past endTime; a run exactly at endTime still happens", () => {
    const endTime = new Date("2025-01-01T03:00:00Z");
    expect(
      nextRunTime("0 * * * *", "UTC", new Date("2025-01-01T02:30:00Z"), { endTime })?.toISOString(),
    ).toBe("2025-01-01T03:00:00.000Z");
    expect(nextRunTime("0 * * * *", "UTC", new Date("2025-01-01T03:00:00Z"), { endTime })).toBe(
      null,
    );
  });

  it("keeps hashed (H) fields stable for one seed", () => {
    const from = new Date("2025-01-01T00:00:00Z");
    const a = nextRunTime("H * * * *", "UTC", from, { seed: "cron-a" });
    expect(nextRunTime("H * * * *", "UTC", from, { seed: "cron-a" })).toEqual(a);
    expect(a!.getUTCSeconds()).toBe(0);
  });
});

describe("parseSchedule", () => {
  it("accepts 5 fields, 6 with seconds first, and @aliases", () => {
    expect(parseSchedule(" 0 9 * * 1-5 ")).toBe("0 9 * * 1-5");
    expect(parseSchedule("*/5 * * * * *")).toBe("*/5 * * * * *");
    expect(parseSchedule("@hourly")).toBe("@hourly");
  });

  it("refuses other field counts, bad values and unknown aliases, naming the field", () => {
    for (const bad of [
      "",
      "* * *",
      "* * * * * * *",
      "61 * * * *",
      "hello",
      "0 0 30 2 *",
      "@often",
    ]) {
      expect(fieldOf(() => parseSchedule(bad, "input.schedule"))).toBe("input.schedule");
    }
  });
});

describe("parseTimezone", () => {
  it("returns the canonical IANA name", () => {
    expect(parseTimezone("UTC")).toBe("UTC");
    expect(parseTimezone("america/new_york")).toBe("America/New_York");
    expect(parseTimezone("Europe/Berlin")).toBe("Europe/Berlin");
  });

  it("refuses names that are not time zones", () => {
    for (const bad of ["Mars/Olympus", "", "+05:00", "Europe/Berlín"]) {
      expect(fieldOf(() => parseTimezone(bad, "input.timezone"))).toBe("input.timezone");
    }
  });
});
