#!/usr/bin/env node
// The installed `driftwatch` command, compiled to dist/cli/bin.js by `npm run build`.
import './main.ts';
