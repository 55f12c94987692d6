/**
 * Summary statistics and table printing for benchmarks.
 *
 * Latencies are plain millisecond numbers (`performance.now()` differences). Percentiles use the
 * nearest-rank method on a sorted copy, so p99 of 100 samples is the 99th smallest value and every
 * reported percentile is a value that was actually observed.
 */

export interface Summary {
  n: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
}

/** Nearest-rank percentile (`p` in 0..100) of already sorted values; NaN when empty. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  const index = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[index]!;
}

/** Nearest-rank percentile (`p` in 0..100); NaN when empty. Does not modify `values`. */
export function percentile(values: readonly number[], p: number): number {
  return percentileSorted(sortedCopy(values), p);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** n, min, max, mean, p50, p90, p99 of `values` (NaN fields when empty). */
export function summarize(values: readonly number[]): Summary {
  const sorted = sortedCopy(values);
  return {
    n: sorted.length,
    min: sorted.length ? sorted[0]! : Number.NaN,
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    mean: mean(sorted),
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
  };
}

function sortedCopy(values: readonly number[]): number[] {
  return Array.from(Float64Array.from(values).sort());
}

/** `x` rounded to `digits` significant digits, in fixed notation: `0.5 -> "0.500"`, `12345 -> "12300"`. */
export function formatSig(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "-" : x > 0 ? "inf" : "-inf";
  if (x === 0) return "0";
  const rounded = Number(x.toPrecision(digits));
  const magnitude = Math.floor(Math.log10(Math.abs(rounded)));
  return rounded.toFixed(Math.max(0, digits - 1 - magnitude));
}

/**
 * Milliseconds with 3 significant digits and a unit: `0.0123 -> "12.3 µs"`, `0.5 -> "0.500 ms"`,
 * `12.34 -> "12.3 ms"`, `550 -> "550 ms"`, `15400 -> "15.4 s"`.
 */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return formatSig(ms);
  const abs = Math.abs(ms);
  if (abs !== 0 && abs < 0.1) return `${formatSig(ms * 1000)} µs`;
  if (abs >= 10_000) return `${formatSig(ms / 1000)} s`;
  return `${formatSig(ms)} ms`;
}

/** A rate per second with 3 significant digits: `12831 -> "12.8k/s"`, `16.5 -> "16.5/s"`. */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond)) return formatSig(perSecond);
  const abs = Math.abs(perSecond);
  if (abs >= 1e6) return `${formatSig(perSecond / 1e6)}M/s`;
  if (abs >= 1e3) return `${formatSig(perSecond / 1e3)}k/s`;
  return `${formatSig(perSecond)}/s`;
}

/** Bytes with a binary unit: `1536 -> "1.50 KiB"`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${formatSig(value)} ${units[unit]}`;
}

/** A ratio with 3 significant digits: `2.345 -> "2.35x"`. */
export function formatRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${formatSig(ratio)}x` : "-";
}

// --- tables ---------------------------------------------------------------------------------

export type Cell = string | number | boolean | null | undefined;
export type Row = Record<string, Cell>;

export interface Column {
  /** Property of the row. */
  key: string;
  /** Header text (default: the key). */
  label?: string;
  /**
   * Cell formatter; default: strings as is, integers as is, other numbers via `formatSig`,
   * null/undefined as "-".
   */
  format?: (value: Cell, row: Row) => string;
  /** Default: right for numbers, left otherwise (decided from the first non-empty cell). */
  align?: "left" | "right";
}

export interface RatioOptions {
  /** Numeric column the ratio is computed from, e.g. "p50". */
  key: string;
  /**
   * The row every other row is compared with: its index, or a predicate (first match).
   * Rows without a finite value in `key` get "-".
   */
  baseline: number | ((row: Row, index: number) => boolean);
  /** Header of the ratio column (default: "vs <baseline's first column value>"). */
  label?: string;
  /**
   * "baseline/value" (default) reads as "how many times better" for lower-is-better metrics like
   * latency (peer 550 ms / ours 5 ms = 110x). Use "value/baseline" for higher-is-better metrics
   * (throughput) or when the baseline is a floor ("ours is 1.3x the floor").
   */
  direction?: "baseline/value" | "value/baseline";
}

export interface TableOptions {
  title?: string;
  /** Columns in order (default: the union of the rows' keys, in first-seen order). */
  columns?: Array<string | Column>;
  /** Appends a ratio column comparing each row with a baseline row. */
  ratio?: RatioOptions;
}

/** Renders rows as an aligned plain-text table (with a ratio column when `options.ratio`). */
export function formatTable(rows: readonly Row[], options: TableOptions = {}): string {
  const columns: Column[] = (options.columns ?? unionKeys(rows)).map((c) =>
    typeof c === "string" ? { key: c } : c,
  );
  const header = columns.map((c) => c.label ?? c.key);
  const body = rows.map((row) =>
    columns.map((c) => (c.format ? c.format(row[c.key], row) : defaultFormat(row[c.key]))),
  );
  const rightAligned = columns.map((c) => {
    if (c.align) return c.align === "right";
    const first = rows.find((r) => r[c.key] !== undefined && r[c.key] !== null);
    return typeof first?.[c.key] === "number";
  });

  if (options.ratio) {
    const { key, baseline, direction = "baseline/value" } = options.ratio;
    const baseIndex = typeof baseline === "number" ? baseline : rows.findIndex(baseline);
    const baseRow = rows[baseIndex];
    const baseValue = baseRow?.[key];
    const firstKey = columns[0]?.key;
    const baseName = baseRow && firstKey !== undefined ? defaultFormat(baseRow[firstKey]) : "?";
    header.push(options.ratio.label ?? `vs ${baseName}`);
    rightAligned.push(true);
    rows.forEach((row, i) => {
      const value = row[key];
      let text = "-";
      if (typeof value === "number" && typeof baseValue === "number") {
        text =
          i === baseIndex
            ? "1x"
            : formatRatio(direction === "baseline/value" ? baseValue / value : value / baseValue);
      }
      body[i]!.push(text);
    });
  }

  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (rightAligned[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out: string[] = [];
  if (options.title) out.push(options.title);
  out.push(line(header));
  out.push(widths.map((w) => "-".repeat(w)).join("  "));
  for (const cells of body) out.push(line(cells));
  return out.join("\n");
}

/** Prints {@link formatTable} to stdout and returns the text. */
export function printTable(rows: readonly Row[], options: TableOptions = {}): string {
  const text = formatTable(rows, options);
  console.log(text);
  return text;
}

function defaultFormat(value: Cell): string {
  if (value === null || value === undefined) return "-";
  if (typeof value === "number") {
    return Number.isSafeInteger(value) ? String(value) : formatSig(value);
  }
  return String(value);
}

function unionKeys(rows: readonly Row[]): string[] {
  const keys = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) keys.add(key);
  return [...keys];
}

/** Column helpers for the common cases. */
export const ms = (key: string, label?: string): Column => ({
  key,
  label,
  align: "right",
  format: (v) => (typeof v === "number" ? formatMs(v) : defaultFormat(v)),
});

export const rate = (key: string, label?: string): Column => ({
  key,
  label,
  align: "right",
  format: (v) => (typeof v === "number" ? formatRate(v) : defaultFormat(v)),
});
