#!/usr/bin/env node
// covgate CLI entry. With tsx installed (a development checkout: npm ci) it runs
// the TypeScript sources, so what runs is always what is checked out; without
// it (a production install: npm ci, then npm prune --omit=dev) it runs dist/,
// which npm ci compiles in `prepare`. COVGATE_DIST=1 forces dist/.
//
// Signals first: loading the sources takes a second or more, and Node's default
// for SIGHUP is to exit. A SIGHUP that arrives meanwhile is remembered here and
// replayed as a reload once the gateway has started (see main's pendingSighup).
let sighupWhileLoading = false;
const onEarlySighup = () => {
  sighupWhileLoading = true;
};
process.on('SIGHUP', onEarlySighup);

let tsx;
if (process.env.COVGATE_DIST !== '1') {
  try {
    tsx = await import('tsx/esm/api');
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
}
let main;
if (tsx) {
  tsx.register();
  ({ main } = await import('../gateway/cli/index.ts'));
} else {
  try {
    ({ main } = await import('../dist/gateway/cli/index.js'));
  } catch (err) {
    if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    process.stderr.write('covgate: dist/ is missing and tsx is not installed: run `npm ci` (it compiles dist/ in prepare)\n');
    process.exit(1);
  }
}
process.exit(
  await main(process.argv.slice(2), {
    pendingSighup: () => {
      process.off('SIGHUP', onEarlySighup);
      return sighupWhileLoading;
    },
  }),
);
