#!/usr/bin/env node
/**
 * The `skein` CLI: wiring only, the commands live in `cli/`. Published as compiled JavaScript
 * (`dist/bin/skein.js`, built by `npm run build`); `npm run skein -- …` runs this source through tsx.
 */
import { runSkein } from '../cli/main.ts';

// Node 20 is supported (package.json engines) until its end of life; the AWS SDK's notice that its releases after
// January 2027 need Node 22 is for the SDK's own upgrades, not something a `skein` user can act on per command.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

process.exitCode = await runSkein(process.argv.slice(2), process);
