#!/usr/bin/env node
// CDK app entry (cdk.json: "app": "npx tsx bin/app.ts"). The CDK CLI synthesises on exit.
import { createSkeinApp, environmentFrom } from '../lib/skein-app.ts';

const env = environmentFrom(process.env);
createSkeinApp(env ? { env } : {});
