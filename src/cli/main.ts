#!/usr/bin/env node
/** The `zoho-encrypted-filestore` executable: runs the command line in this process. */
import { processIo } from "./io.js";
import { run } from "./run.js";

process.exitCode = await run(process.argv.slice(2), processIo());
