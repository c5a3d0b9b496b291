#!/usr/bin/env -S npx tsx
/** The `skein` CLI (`npx skein …`, `npm run skein -- …`): wiring only, the commands live in `local/cli/`. */
import { runSkein } from '../local/cli/main.ts';

process.exitCode = await runSkein(process.argv.slice(2), process);
