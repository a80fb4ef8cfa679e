// Unit and integration tests. Interop tests (real outside tools) live in .mocharc.interop.cjs.
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['test/**/*.test.ts'],
  ignore: ['test/interop/**'],
  timeout: 30000,
  exit: true,
};
