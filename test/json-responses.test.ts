import { describe, expect, it } from "vitest";
import { createJsonCache, toJson } from "../src/graphs/serialize.ts";
import { createJsonWriter } from "../src/schema/json-responses.ts";

const sameAsJson = (value: unknown, writer = createJsonWriter()) =>
  expect(writer.encode(value).toString("utf8")).toBe(JSON.stringify(value) ?? "null");

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

describe("the JSON writer", () => {
  it("writes what JSON.stringify writes", () => {
    const nullProto = Object.assign(Object.create(null), { a: 1 });
    const corpus: unknown[] = [
      null,
      0,
      -1.5e-7,
      true,
      "plain",
      'quotes " and \\ and \n and \u2028 and é and 😀 and a lone \ud800',
      [],
      {},
      [1, "two", null, [3], { four: 4 }],
      { a: undefined, b: () => 1, c: Symbol("s"), d: 1 },
      [undefined, () => 1, Symbol("s")],
      { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, negZero: -0 },
      { date: new Date(Date.UTC(2026, 0, 31)), point: new Point(1, 2) },
      { hidden: { toJSON: () => undefined }, shown: { toJSON: () => ({ ok: [1] }) } },
      { boxed: [new Number(3), new String("s"), new Boolean(false)] },
      nullProto,
      { nested: { deeper: { deepest: [[[{ x: "y" }]]] } }, 'key with "quote"': 1 },
      Object.freeze({ frozen: Object.freeze([Object.freeze({ a: 1 }), undefined]) }),
    ];
    for (const value of corpus) sameAsJson(value);
  });

  it("keeps the bytes of frozen values, which cannot change, and of nothing else", () => {
    const writer = createJsonWriter();
    const message = Object.freeze({ type: "ai", content: "hi" });
    const mutable = { type: "human", content: "hello" };
    // Freezing is shallow: a frozen shell around a mutable value is not immutable.
    const shell = Object.freeze({ inner: mutable, date: new Date(0) });
    const page = [{ values: [message, mutable] }, { values: [message, shell] }];
    sameAsJson(page, writer);
    mutable.content = "changed";
    sameAsJson(page, writer);
    sameAsJson({ again: message, shell }, writer);
  });

  it("writes the frozen values a shared JsonCache hands out exactly as JSON.stringify", () => {
    const cache = createJsonCache({ shared: true });
    const source = {
      messages: [
        { lc: 1, type: "constructor", id: ["x"], kwargs: { content: "a" } },
        { toDict: () => ({ type: "human", data: { content: "b", additional_kwargs: {} } }) },
      ],
      count: 2,
    };
    const converted = toJson(source, cache);
    expect(Object.isFrozen(converted)).toBe(true);
    expect(Object.isFrozen((converted as { messages: object[] }).messages[1])).toBe(true);
    expect(toJson(source, cache)).toBe(converted);
    const writer = createJsonWriter();
    sameAsJson({ data: { a: converted, b: converted } }, writer);
    sameAsJson({ data: { a: converted } }, writer);
  });

  it("fails where JSON.stringify fails", () => {
    expect(() => createJsonWriter().encode({ big: 1n })).toThrow(TypeError);
  });
});
