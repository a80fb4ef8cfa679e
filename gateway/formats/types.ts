import type { CoverageMapData, FileCounters, FileStructure, SplitCoverage } from '../model/index.ts';
import type { PayloadFormat, ScrapeFormat } from '../config/types.ts';

export type { PayloadFormat, ScrapeFormat };

/** Build info an exporter reports (envelope `build`). */
export type BuildInfo = Record<string, string>;

/**
 * What every decoder returns: Istanbul data plus what the envelope said about
 * the process. Exactly one of `coverage` (full data) or `hits` (counters-only
 * reply of the structure-once exchange) is set.
 */
export interface Decoded {
  /** Format of the payload itself (never 'covgate'). */
  format: Exclude<PayloadFormat, 'covgate'>;
  /** Whether it came wrapped in a covgate envelope. */
  enveloped: boolean;
  instance?: string;
  startTime?: string;
  build?: BuildInfo;
  counters: 'cumulative' | 'delta';
  /** Envelope-level structure id (`structure`), when the exporter supports structure-once. */
  structureId?: string;
  coverage?: CoverageMapData;
  /**
   * `coverage` already split into structures and counters (what ingest stores),
   * set when the Istanbul fast path (./istanbul-scan.ts) read the body or
   * learnt from it; ingest uses it instead of splitting `coverage` again.
   */
  split?: SplitCoverage;
  /** Counters-only reply: path → counters indexed by Istanbul ids. */
  hits?: Record<string, FileCounters>;
  /**
   * Counters-only reply that can only be read against the stored structure
   * (gocovdata: counters indexed by Go package/function/unit): the ingest
   * stage calls it with the files of `structureId` to get `hits`.
   */
  resolveHits?: ResolveHits;
  /**
   * What the decoder skipped without failing the payload (V8 scripts whose
   * source could not be resolved, `node:` internals are not reported). Empty
   * when everything was decoded.
   */
  warnings?: string[];
}

/** What a decoder may use besides the body. */
export interface DecodeContext {
  /** Format named by the scrape config or the push request; 'auto' sniffs. */
  declaredFormat: ScrapeFormat;
  contentType?: string;
  /** Header `X-Coverage-Instance`, for plain formats. */
  instanceHeader?: string;
  /** Default counter semantics for plain payloads. */
  counters?: 'cumulative' | 'delta';
  /**
   * Loads a source text (V8 `url`s, source maps). Returns undefined when it
   * cannot; decoders then report what they could not resolve, never crash.
   */
  loadSource?: (url: string) => Promise<string | undefined>;
  /**
   * Receives a warning for something skipped without failing the payload
   * (decodePayload collects them into `Decoded.warnings`).
   */
  warn?: (message: string) => void;
  /**
   * Always take the full parse (JSON.parse + decoder + validation), never the
   * Istanbul byte scanner: tests and benchmarks compare the two paths with it.
   */
  fullParseOnly?: boolean;
  /**
   * The counters the gateway holds for this target's files (its current
   * lifetime's newest; see Ingester.previousCounters). A counters-only reply
   * read from its bytes returns these very arrays where every value is equal,
   * so counters that did not move are neither copied nor compared again.
   */
  previousCounters?: PreviousCounters;
}

/**
 * The counters already held for a file, or undefined. Only ever compared
 * with: a decoder returns one of these arrays when, and only when, every value
 * read equals it. Never modified (snapshots are immutable once stored).
 */
export type PreviousCounters = ((path: string) => FileCounters | undefined) & {
  /**
   * The held files' paths in their order. A reply that names the same paths
   * in the same order (every repeat scrape of a build) has each path's bytes
   * compared with these strings instead of read into a new string and looked
   * up again in the path check.
   */
  readonly paths?: readonly string[];
};

/**
 * One payload format. `decode` turns the payload (already parsed JSON for JSON
 * formats, text otherwise) into an Istanbul coverage map. It validates at the
 * boundary and throws COVGATE_BAD_COVERAGE naming what is wrong; it never
 * returns a partial map.
 */
export interface PayloadDecoder {
  readonly format: Exclude<PayloadFormat, 'covgate'>;
  /** What `decode` receives: parsed JSON, or the body as text. */
  readonly input: 'json' | 'text';
  /** Whether an `auto` body looks like this format (JSON already parsed, or text). */
  sniff(body: unknown, contentType: string | undefined): boolean;
  decode(payload: unknown, ctx: DecodeContext): Promise<CoverageMapData>;
  /**
   * Formats whose counters-only reply is not Istanbul `hits` (gocovdata's
   * counter files without meta-data): returns how to read it against the
   * stored structure, or undefined when the payload carries its structure.
   */
  countersOnly?(payload: unknown): ResolveHits | undefined;
}

/** Reads a counters-only reply against the stored structures of its structure id (path → structure). */
export type ResolveHits = (structureId: string, structures: Record<string, FileStructure>) => Record<string, FileCounters>;

/** Output formats of GET /api/v1/coverage and of pushes. */
export type OutputFormat = 'istanbul' | 'lcov' | 'cobertura' | 'gocover' | 'json-summary' | 'text-summary' | 'covgate';

export interface Encoded {
  contentType: string;
  body: string;
}
