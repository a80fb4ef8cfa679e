/**
 * Coverage format names: the one list. Config validates `format:` against
 * it, push ingest its `format=` parameter, and the decoder registry
 * (formats/registry.ts) must have a decoder for each payload format (the
 * compiler checks it: `Record<PlainFormat, PayloadDecoder>`).
 */
export const PAYLOAD_FORMATS = ['covgate', 'istanbul', 'v8', 'gocover', 'lcov', 'cobertura', 'coveralls', 'gocovdata'] as const;
export type PayloadFormat = (typeof PAYLOAD_FORMATS)[number];

/** What a scrape config's `format:` (and push ingest's `format=`) may say: `auto` sniffs. */
export const SCRAPE_FORMATS = ['auto', ...PAYLOAD_FORMATS] as const;
export type ScrapeFormat = (typeof SCRAPE_FORMATS)[number];
