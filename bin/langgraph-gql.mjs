#!/usr/bin/env node
// The compiled server (`npm run build`, done when the package is packed). In a checkout,
// `npm start` runs the TypeScript source instead (src/run-cli.ts through tsx).
import "../dist/run-cli.js";
