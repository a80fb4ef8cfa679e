#!/usr/bin/env node
// covgate CLI entry: runs the TypeScript sources through tsx (no build step).
//
// Signals first: loading the sources takes a second or more, and Node's default
// for SIGHUP is to exit. A SIGHUP that arrives meanwhile is remembered here and
// replayed as a reload once the gateway has started (see main's pendingSighup).
let sighupWhileLoading = false;
const onEarlySighup = () => {
  sighupWhileLoading = true;
};
process.on('SIGHUP', onEarlySighup);

const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../gateway/cli/index.ts');
process.exit(
  await main(process.argv.slice(2), {
    pendingSighup: () => {
      process.off('SIGHUP', onEarlySighup);
      return sighupWhileLoading;
    },
  }),
);
