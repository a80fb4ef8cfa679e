import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { errors } from '../../errors.ts';
import { coverageLines } from '../../formats/encode/lines.ts';
import { encodeSonarGenericCoverage } from '../../formats/encode/sonarqube.ts';
import { pushErrors } from '../errors.ts';
import type { CoverageMapData } from '../../model/index.ts';
import type { Center } from './types.ts';

/** How long a first attempt waits for its session to be stored (50 × 20 ms), before it counts as a retry. */
const STORED_WAIT_STEPS = 50;
const STORED_WAIT_STEP_MS = 20;

/** The session label that names the release a SonarQube analysis covers. */
export const RELEASE_LABEL = 'release';

/** A service or release as one path segment: no separators, no dot-only names. */
const SEGMENT_RE = /^(?!\.{1,2}$)[\w.@+-]{1,200}$/;

/** The stable url of a report, for sonar.coverageReportPaths (after a download) or a CI step. */
export const sonarReportPath = (service: string, release: string) =>
  `/api/v1/sonarqube/${encodeURIComponent(service)}/${encodeURIComponent(release)}.xml`;

/** The generic-coverage XML of a merged coverage map. */
export function sonarReport(map: CoverageMapData, stripPrefix?: string): string {
  return encodeSonarGenericCoverage(coverageLines(map, stripPrefix));
}

/**
 * kind sonarqube: SonarQube reads coverage only from files the scanner is
 * given (`sonar.coverageReportPaths`), so there is nothing to POST. A report
 * is per service and release: the merge of every finished session labelled
 * `release=<r>` on that service's targets. Each delivery rewrites the
 * reports of the session's services (written to a temp file and renamed, so
 * the scanner never reads half a file) at `path` with `{service}` and
 * `{release}` replaced; the same XML is served at
 * `/api/v1/sonarqube/<service>/<release>.xml`. A rewrite is idempotent, so
 * a re-delivery after a restart does no harm.
 */
export const sonarqubeCenter: Center = {
  prepare(job, up) {
    const where = `upstream ${JSON.stringify(up.name)} (kind sonarqube)`;
    const release = job.labels[RELEASE_LABEL];
    if (release === undefined || release === '') throw errors.badData(`${where} needs the session label "${RELEASE_LABEL}" (one SonarQube report per service and release)`);
    if (!SEGMENT_RE.test(release)) throw errors.badData(`${where}: release ${JSON.stringify(release)} must be letters, digits and _ . @ + - (it names a file)`);
    const services = [...new Set(job.services ?? [])].sort();
    for (const s of services) if (!SEGMENT_RE.test(s)) throw errors.badData(`${where}: service ${JSON.stringify(s)} must be letters, digits and _ . @ + - (it names a file)`);
    return { contentType: 'application/xml', body: '', bodyEncoding: 'utf8', query: [], headers: {}, meta: { release, services, session: job.sessionId } };
  },

  async deliver(ctx) {
    const { release, services } = ctx.request.meta as { release: string; services: string[] };
    const coverage = ctx.ports.releaseCoverage;
    if (!coverage) throw pushErrors.rejected('kind sonarqube is not wired to the session store in this process', { status: 0 });
    const answer: Record<string, string> = {};
    const session = ctx.request.meta!.session as string;
    for (const service of services) {
      // The session is written right after its push is queued, so a first attempt usually runs a few
      // milliseconds before it is visible: wait a moment for it rather than spend a retry (≥ 1 s) on it.
      let map = coverage(service, release, session);
      for (let i = 0; !map && i < STORED_WAIT_STEPS; i++) {
        try {
          await delay(STORED_WAIT_STEP_MS, undefined, { signal: ctx.signal });
        } catch (err) {
          throw pushErrors.aborted(err);
        }
        map = coverage(service, release, session);
      }
      if (!map) throw pushErrors.unavailable(`session not stored yet (release ${release}, service ${service})`);
      const xml = sonarReport(map, ctx.upstream.strip_prefix);
      answer[`report.${service}`] = sonarReportPath(service, release);
      if (ctx.upstream.path !== undefined) {
        const file = ctx.upstream.path.replaceAll('{service}', service).replaceAll('{release}', release);
        try {
          await mkdir(dirname(file), { recursive: true });
          const tmp = `${file}.${process.pid}.tmp`;
          await writeFile(tmp, xml);
          await rename(tmp, file);
        } catch (err) {
          throw pushErrors.unavailable(`cannot write ${file}: ${(err as Error).message}`, {}, err);
        }
        answer[`file.${service}`] = file;
      }
    }
    return { status: 0, answer };
  },
};
