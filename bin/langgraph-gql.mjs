#!/usr/bin/env node
// The server is TypeScript run through tsx, which also lets langgraph.json name .ts graph files.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
