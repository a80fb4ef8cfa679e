import type { Labels, ScrapeConfig } from '../config/types.ts';

export type Health = 'up' | 'down' | 'unknown';

/** Outcome class of one scrape, as `covgate_scrapes_total{result}` counts it. */
export type ScrapeOutcome = 'success' | 'not_modified' | 'error' | 'timeout' | 'too_large' | 'bad_data';

export interface ScrapeResult {
  targetId: string;
  job: string;
  instance: string;
  scrapeUrl: string;
  result: ScrapeOutcome;
  health: Health;
  error?: string;
  durationSeconds: number;
  bodyBytes: number;
  /** Set when a new process lifetime started with this scrape. */
  restarted?: boolean;
  newLifetime?: boolean;
  /** Whether the store wrote a snapshot (an unchanged cumulative snapshot writes nothing). */
  stored?: boolean;
}

/** What /api/v1/targets shows of an active target. */
export interface TargetInfo {
  id: string;
  job: string;
  labels: Labels;
  discoveredLabels: Labels;
  scrapePool: string;
  scrapeUrl: string;
  health: Health;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
  /** The exporter's process instance (envelope `instance`), when known. */
  processInstance?: string;
  scrapeIntervalMs: number;
  scrapeTimeoutMs: number;
  source: 'discovered' | 'registered';
}

export interface DroppedTargetInfo {
  job: string;
  discoveredLabels: Labels;
}

/** Hooks through which the scrape stage reports to the metrics stage (failures become data). */
export interface ScrapeObserver {
  scrapeFinished(r: ScrapeResult): void;
  targetRestarted(job: string, instance: string): void;
  targetRemoved(job: string, instance: string): void;
}

export type { ScrapeConfig };
