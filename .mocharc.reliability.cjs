// Reliability suite at full scale (npm run test:reliability, run by CI): 100 SIGKILLs,
// 20 SIGHUP start-ups, 3,000 folded pushes. `npm test` runs the same files scaled down.
process.env.COVGATE_RELIABILITY_KILLS ??= '100';
process.env.COVGATE_RELIABILITY_SIGHUP_STARTS ??= '20';
process.env.COVGATE_RELIABILITY_PUSHES ??= '3000';
module.exports = {
  'node-option': ['import=tsx'],
  spec: ['test/reliability/**/*.test.ts'],
  timeout: 900000,
  exit: true,
};
