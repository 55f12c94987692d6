#!/usr/bin/env node
// The compiled server: dist/ is built by the prepare script, which npm runs on `npm ci` in a
// checkout, before `npm pack`, and when it installs the package from git. In a checkout,
// `npm start` runs the TypeScript source instead (src/run-cli.ts through tsx).
import "../dist/run-cli.js";
