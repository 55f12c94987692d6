/**
 * JSON for jsonb columns. jsonb cannot hold U+0000, nor a lone UTF-16 surrogate (a model's token
 * may split a pair). What a run produced (its state, interrupts, errors, stream) is stored with
 * each of them as U+FFFD rather than refused; JSON arguments of the API are refused instead (see
 * assertStorable), except state edits, which the checkpoints keep exactly.
 */

/**
 * An escape in JSON text, or an escaped backslash (consumed as one, so that what follows it is
 * never read as an escape): JSON.stringify writes U+0000 as \u0000 and a lone UTF-16 surrogate
 * as \udXXX (a paired one stays a character), and writes no other escape starting that way.
 */
const UNSTORABLE_ESCAPE = /\\(?:\\|u0000|ud[89a-f][0-9a-f]{2})/g;

/** JSON text of `value` that jsonb accepts; fixed in the text, after a plain JSON.stringify. */
export function storableJson(value: unknown): string {
  const text = JSON.stringify(value);
  return mayHoldUnstorable(text) ? fix(text) : text;
}

/** `value` itself when jsonb can hold it, else a copy in which it can. */
export function storable<T>(value: T): T {
  const text = JSON.stringify(value);
  return mayHoldUnstorable(text) ? (JSON.parse(fix(text)) as T) : value;
}

/** Whether JSON text (from JSON.stringify) holds something jsonb cannot. */
export function holdsUnstorable(text: string): boolean {
  return mayHoldUnstorable(text) && fix(text) !== text;
}

function mayHoldUnstorable(text: string | undefined): text is string {
  return text !== undefined && (text.includes("\\u0000") || text.includes("\\ud"));
}

function fix(text: string): string {
  return text.replace(UNSTORABLE_ESCAPE, (found) => (found === "\\\\" ? found : "\\ufffd"));
}
