// Interop tests: run real outside tools (go tool cover, erl, chromium, promtool, genhtml).
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['test/interop/**/*.test.ts'],
  timeout: 120000,
  exit: true,
};
