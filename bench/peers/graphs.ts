/**
 * Graphs served by the official dev server (see langgraph.json). The definitions live in
 * `bench/graphs.ts` so our own server and in-process subjects run exactly the same code.
 */
export { hitl, one_node, ticker, tokens } from "../graphs.ts";
