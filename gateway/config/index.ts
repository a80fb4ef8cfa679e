/**
 * gateway/config: load and validate gateway.yaml (contract section 3).
 *
 * `loadConfigFile` / `parseConfig` return a fully defaulted GatewayConfig
 * (durations in ms, sizes in bytes, relative paths resolved) or throw one
 * CovgateError (code COVGATE_BAD_CONFIG) whose message lists every problem as
 * `file:line: key.path: message`.
 */
export type * from './types.ts';
export { parseConfig, loadConfigFile, formatConfigPath, type ParseConfigOptions, type ConfigErrorEntry } from './load.ts';
export { parseDuration, formatDuration, parseSize } from './duration.ts';
export { configFingerprint } from './fingerprint.ts';
export { scrapeConfigDefaults, defaultGlobalConfig, DEFAULTS } from './defaults.ts';
