#!/usr/bin/env node
// The Node CLI: `predict` and `check`, with the Python CLI's contract (see src/cli.js).
import { main } from "../src/cli.js";

process.stdout.on("error", (error) => {
  if (error.code === "EPIPE") process.exit(0); // e.g. piped into `head`: stop quietly
  throw error;
});
process.exitCode = await main(process.argv.slice(2));
