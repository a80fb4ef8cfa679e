#!/usr/bin/env node
// covgate CLI entry: runs the TypeScript sources through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../gateway/cli/index.ts');
process.exit(await main(process.argv.slice(2)));
