/**
 * Stage: diff (patch) coverage. Which lines a change added or modified
 * (a unified diff uploaded by the client, or `git diff base...head` in the
 * job's `repository:`), and how many of them the selected coverage ran.
 * Pure parts: parse.ts (jsdiff), path-map.ts, diff-coverage.ts, render.ts;
 * git.ts runs git through execFile with argument arrays only.
 */
import type { DiffConfig, GatewayConfig, ScrapeConfig } from '../config/types.ts';
import { errors } from '../errors.ts';
import { combineCoverage, lineCounts, summarize, type CoverageMapData, type Selector, type Summary } from '../model/index.ts';
import type { BuildDiffs } from './build-diffs.ts';
import { carryCoverage, composeChanges, changesOf, type CarriedLine, type FileChange } from './carry.ts';
import { computeDiffCoverage, type DiffCoverageReport } from './diff-coverage.ts';
import { gitDiff, type GitRunner } from './git.ts';
import { parseUnifiedDiff, type DiffFile } from './parse.ts';
import { mapCoveragePath, type PathMapping } from './path-map.ts';

export * from './parse.ts';
export * from './path-map.ts';
export * from './diff-coverage.ts';
export * from './render.ts';
export * from './carry.ts';
export * from './build-diffs.ts';
export { checkGitRef, createGitRunner, gitDiff, gitRefProblem, type GitRunner } from './git.ts';

export interface DiffRequest {
  selector: Selector;
  /** A unified diff sent by the client. */
  diffText?: string;
  /** A named diff from config (`diffs:`). */
  name?: string;
  /** Revisions to diff in the job's repository. */
  base?: string;
  head?: string;
}

export interface DiffCoverageResult {
  /** What was diffed, for titles: the name, `base...head` (resolved commits) or "uploaded diff". */
  title: string;
  source: { kind: 'upload' } | { kind: 'git'; job: string; repository: string; base: string; head: string; name?: string };
  report: DiffCoverageReport;
}

export interface DiffSeries {
  job: string;
  service: string;
  diff: string;
  ratio: number;
}

/** A selection's coverage with older builds carried onto the newest (`carry=lines`). */
export interface CarryResult {
  /** `lines`: older builds were mapped through their diffs; `none`: merged by source location (the note says why). */
  mode: 'lines' | 'none';
  map: CoverageMapData;
  /** The newest build's commit. */
  newest?: string;
  /** Commits whose coverage was carried through a diff. */
  carriedFrom: string[];
  /** When each carried build was last scraped (epoch ms): its carried counts were last seen running no later than that. */
  lastSeen: Record<string, number>;
  /** Where each carried build's diff came from: git in the job's repository, or diffs uploaded with the builds. */
  via: Record<string, 'git' | 'uploaded'>;
  /**
   * Every line that received carried counts, by coverage path and line: the
   * carried hits (summed over older builds), the newest build's own hits on
   * it, and when it was last seen run (the last scrape of the newest older
   * build that ran it) and on which commit.
   */
  lines: Record<string, Record<number, CarriedLine>>;
  /** Why (part of) the coverage was merged by location instead. */
  notes: string[];
  /** The newest build's own coverage. */
  observed: Summary;
  /** Observed plus carried. */
  combined: Summary;
}

export interface DiffCoverageDeps {
  config(): GatewayConfig;
  /** Merged coverage of a selection (merge/query stage). */
  coverage(selector: Selector): { map: CoverageMapData };
  /** The selection's coverage per build, newest first; undefined when builds are unknown (sessions). */
  byBuild?(selector: Selector): Array<{ commit?: string; lastSeen: number; coverage: { map: CoverageMapData } }> | undefined;
  /** The (job, service) pairs /metrics shows, for the named diffs' series. */
  services(): Array<{ job: string; service: string }>;
  git: GitRunner;
  /** Diffs uploaded with builds (envelope / registration `build.diff`): used when no repository gives the diff. */
  uploaded?: BuildDiffs;
}

export interface DiffCoverageService {
  /**
   * Diff coverage of a request. `coverage` replaces the selection's merged
   * coverage: a map, or a function of the effective selector (a named diff
   * selects its job) returning one, or undefined for the plain merge.
   */
  report(req: DiffRequest, coverage?: CoverageMapData | ((selector: Selector) => Promise<CoverageMapData | undefined>)): Promise<DiffCoverageResult>;
  /**
   * Coverage of a selection spanning builds with the older builds' counts
   * carried onto the newest build through `git diff <old> <newest>` in the
   * job's repository (diff/carry.ts). Undefined when the selection has at most
   * one build (nothing to carry). Builds without a commit, or without a
   * repository to diff in, are merged by source location as before, and the
   * notes say so.
   */
  carry(selector: Selector): Promise<CarryResult | undefined>;
  /** The same for builds given newest first (a session's parts); the selector names the jobs whose repository and path_map apply. */
  carryBuilds(selector: Selector, builds: Array<{ commit?: string; lastSeen: number; coverage: { map: CoverageMapData } }>): Promise<CarryResult | undefined>;
  /** `covgate_diff_coverage_ratio{job,service,diff}` values: every named diff × every service of its job. */
  series(): Promise<DiffSeries[]>;
}

/** path_map and roots of the jobs a selector can reach (its `job` values, or every job). */
export function mappingFor(config: GatewayConfig, selector: Selector): PathMapping {
  const jobs = config.scrape_configs.filter((j) => !selector.job || selector.job.includes(j.job_name));
  const pathMap: Record<string, string> = {};
  const roots: string[] = [];
  for (const j of jobs) {
    Object.assign(pathMap, j.path_map);
    if (j.repository) roots.push(j.repository);
    roots.push(...j.sources);
  }
  return { pathMap, roots };
}

const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function createDiffCoverage(deps: DiffCoverageDeps): DiffCoverageService {
  // Parsed git diffs by (repository, resolved base, resolved head): commits never change.
  const cache = new Map<string, DiffFile[]>();

  async function fromGit(job: ScrapeConfig, base: string, head: string): Promise<{ files: DiffFile[]; base: string; head: string }> {
    if (!job.repository) throw errors.badData(`job ${JSON.stringify(job.job_name)} has no repository: configured; upload the diff as the request body instead`);
    const d = await gitDiff(deps.git, job.repository, base, head);
    const key = `${job.repository}\0${d.base}\0${d.head}`;
    let files = cache.get(key);
    if (!files) {
      files = parseUnifiedDiff(d.text);
      if (cache.size >= 64) cache.delete(cache.keys().next().value!);
      cache.set(key, files);
    }
    return { files, base: d.base, head: d.head };
  }

  function jobFor(selector: Selector, config: GatewayConfig): ScrapeConfig {
    const named = selector.job ?? [];
    const candidates = config.scrape_configs.filter((j) => j.repository && (named.length === 0 || named.includes(j.job_name)));
    if (candidates.length === 1) return candidates[0]!;
    if (candidates.length === 0) {
      throw errors.badData(
        named.length > 0 ? `job ${named.join(',')} has no repository: configured, so base/head cannot be diffed; upload the diff as the body` : 'no job has a repository: configured; name a job or upload the diff as the body',
      );
    }
    throw errors.badData(`base/head need one job with a repository; the selection reaches ${candidates.map((j) => j.job_name).join(', ')}: add job=<name>`);
  }

  async function report(req: DiffRequest, given?: CoverageMapData | ((selector: Selector) => Promise<CoverageMapData | undefined>)): Promise<DiffCoverageResult> {
    const config = deps.config();
    let files: DiffFile[];
    let selector = req.selector;
    let source: DiffCoverageResult['source'];
    let title: string;
    if (req.name !== undefined) {
      const named: DiffConfig | undefined = config.diffs.find((d) => d.name === req.name);
      if (!named) throw errors.notFound(`no diff named ${JSON.stringify(req.name)} in config (diffs: ${config.diffs.map((d) => d.name).join(', ') || 'none'})`);
      if (selector.job && !selector.job.includes(named.job)) throw errors.badData(`diff ${named.name} belongs to job ${named.job}, the selector names job ${selector.job.join(',')}`);
      selector = { ...selector, job: [named.job] };
      const job = config.scrape_configs.find((j) => j.job_name === named.job)!;
      const g = await fromGit(job, named.base, named.head);
      files = g.files;
      source = { kind: 'git', job: job.job_name, repository: job.repository!, base: g.base, head: g.head, name: named.name };
      title = `${named.name} (${named.base}...${named.head})`;
    } else if (req.base !== undefined || req.head !== undefined) {
      if (req.base === undefined || req.head === undefined) throw errors.badData('give both base and head (git diff base...head), or upload the diff as the body');
      const job = jobFor(selector, config);
      const g = await fromGit(job, req.base, req.head);
      files = g.files;
      source = { kind: 'git', job: job.job_name, repository: job.repository!, base: g.base, head: g.head };
      title = `${req.base}...${req.head}`;
    } else if (req.diffText !== undefined) {
      files = parseUnifiedDiff(req.diffText);
      if (files.length === 0 && req.diffText.trim() !== '') throw errors.badData('the body is not a unified diff: no "--- a/<path>" / "+++ b/<path>" file headers found');
      source = { kind: 'upload' };
      title = 'uploaded diff';
    } else {
      throw errors.badData('diff-coverage needs a unified diff as the POST body, diff=<name> from config, or base=<rev>&head=<rev>');
    }
    const map = (typeof given === 'function' ? await given(selector) : given) ?? deps.coverage(selector).map;
    return { title, source, report: computeDiffCoverage(files, map, mappingFor(config, selector)) };
  }

  /** `git diff <old> <new>` in the job's repository, parsed; cached when both are full commit ids (they never change meaning). */
  async function gitChanges(job: ScrapeConfig, from: string, to: string): Promise<DiffFile[]> {
    const immutable = FULL_SHA.test(from) && FULL_SHA.test(to);
    const key = `carry\0${job.repository}\0${from}\0${to}`;
    const hit = immutable ? cache.get(key) : undefined;
    if (hit) return hit;
    const files = parseUnifiedDiff((await gitDiff(deps.git, job.repository!, from, to, 'direct')).text);
    if (immutable) {
      if (cache.size >= 64) cache.delete(cache.keys().next().value!);
      cache.set(key, files);
    }
    return files;
  }

  /**
   * The change from build `from` to build `to` through diffs uploaded with the
   * builds: `to`'s diff from `from` directly, else a chain of diffs each from
   * its `base` (or, without one, from the build that ran before it in
   * `order`, newest first). Undefined when no chain reaches `from`.
   */
  function uploadedChanges(from: string, to: string, order: string[], jobs: string[] | undefined): FileChange[] | undefined {
    if (!deps.uploaded) return undefined;
    let steps: FileChange[] | undefined;
    let cur = to;
    for (let guard = 0; guard <= order.length && cur !== from; guard++) {
      const diffs = deps.uploaded.forCommit(cur, jobs);
      const before = order[order.indexOf(cur) + 1];
      const d = diffs.find((x) => x.base === from) ?? diffs.find((x) => x.base !== undefined && order.includes(x.base)) ?? diffs.find((x) => x.base === undefined && before !== undefined);
      if (!d) return undefined;
      const base = d.base ?? before!;
      steps = steps ? composeChanges(d.files, steps) : changesOf(d.files);
      cur = base;
    }
    return cur === from ? steps : undefined;
  }

  async function carry(selector: Selector, given?: Array<{ commit?: string; lastSeen: number; coverage: { map: CoverageMapData } }>): Promise<CarryResult | undefined> {
    const found = given ?? deps.byBuild?.(selector);
    if (!found || found.length <= 1) return undefined;
    // A build that uploaded a diff from another is the newer of the two, whatever the scrape times say
    // (two pushes within one millisecond); otherwise the first-scraped order stands (a stable sort).
    const descends = (x: (typeof found)[number], y: (typeof found)[number]) =>
      x.commit !== undefined && y.commit !== undefined && (deps.uploaded?.forCommit(x.commit, selector.job).some((d) => d.base === y.commit) ?? false);
    const builds = [...found].sort((x, y) => (descends(x, y) ? -1 : descends(y, x) ? 1 : 0));
    const config = deps.config();
    const [newest, ...older] = builds as [(typeof builds)[number], ...typeof builds];
    const observedMap = newest.coverage.map;
    const notes: string[] = [];
    const carriedFrom: string[] = [];
    const lastSeen: Record<string, number> = {};
    const via: Record<string, 'git' | 'uploaded'> = {};
    const lines: Record<string, Record<number, CarriedLine>> = {};
    let job: ScrapeConfig | undefined;
    let noRepository: string | undefined;
    try {
      job = jobFor(selector, config);
    } catch (err) {
      noRepository = (err as Error).message;
    }
    if (newest.commit === undefined) notes.push('the newest build has no build.commit');
    const mapping = mappingFor(config, selector);
    const order = builds.map((b) => b.commit).filter((c): c is string => c !== undefined);
    let map = observedMap;
    for (const b of older) {
      if (newest.commit === undefined || b.commit === undefined) {
        if (b.commit === undefined && newest.commit !== undefined) notes.push('coverage without build.commit merged by source location');
        map = combineCoverage(map, b.coverage.map, 'merge');
        continue;
      }
      let changes: DiffFile[] | FileChange[] | undefined;
      let problem: string | undefined;
      if (job) {
        try {
          changes = await gitChanges(job, b.commit, newest.commit);
          via[b.commit] = 'git';
        } catch (err) {
          problem = (err as Error).message;
        }
      }
      if (!changes) {
        changes = uploadedChanges(b.commit, newest.commit, order, selector.job);
        if (changes) via[b.commit] = 'uploaded';
      }
      if (!changes) {
        notes.push(
          problem !== undefined
            ? `build ${b.commit} merged by source location: ${problem}`
            : `no diff between builds ${b.commit} and ${newest.commit} (${noRepository ?? 'no repository'}; none uploaded with build.diff): merged by source location`,
        );
        map = combineCoverage(map, b.coverage.map, 'merge');
        continue;
      }
      const changed = changesOf(changes);
      // A coverage path under no root (a job without repository/sources) is matched to the diff's files by path suffix,
      // so a changed file is never carried as if unchanged.
      const diffPaths = [...new Set(changed.flatMap((f) => [f.oldPath, f.newPath]).filter((x): x is string => x !== undefined))].sort((x, y) => y.length - x.length);
      const suffixCache = new Map<string, string | undefined>();
      const pathOf = (p: string) => {
        const mapped = mapCoveragePath(p, mapping);
        if (mapped !== undefined) return mapped;
        if (!suffixCache.has(p)) {
          const n = p.replace(/\\/g, '/');
          suffixCache.set(p, diffPaths.find((d) => n.endsWith(`/${d}`)));
        }
        return suffixCache.get(p);
      };
      const carried = carryCoverage(b.coverage.map, observedMap, changed, pathOf);
      // Files the new build has not reported (yet) and the diff does not touch are unchanged: they keep their coverage as it is.
      const touched = new Set(diffPaths);
      for (const [path, data] of Object.entries(b.coverage.map)) {
        const rp = pathOf(path);
        if (!observedMap[path] && !(rp !== undefined && touched.has(rp))) carried[path] = data;
      }
      // Per line: carried hits, and when the line was last seen run (the newest build that ran it, builds newest first).
      for (const [path, data] of Object.entries(carried)) {
        for (const [line, hits] of lineCounts(data)) {
          if (hits <= 0) continue;
          const perFile = (lines[path] ??= {});
          const l = perFile[line];
          if (!l) perFile[line] = { hits, observed: 0, lastSeen: b.lastSeen, from: b.commit };
          else {
            l.hits += hits;
            if (b.lastSeen > l.lastSeen) Object.assign(l, { lastSeen: b.lastSeen, from: b.commit });
          }
        }
      }
      map = combineCoverage(map, carried, 'merge');
      carriedFrom.push(b.commit);
      lastSeen[b.commit] = b.lastSeen;
    }
    for (const [path, perFile] of Object.entries(lines)) {
      const own = observedMap[path] ? lineCounts(observedMap[path]!) : undefined;
      for (const [line, l] of Object.entries(perFile)) l.observed = own?.get(Number(line)) ?? 0;
    }
    return {
      mode: carriedFrom.length > 0 ? 'lines' : 'none',
      map,
      ...(newest.commit !== undefined ? { newest: newest.commit } : {}),
      carriedFrom,
      lastSeen,
      via,
      lines,
      notes: [...new Set(notes)],
      observed: summarize(observedMap),
      combined: summarize(map),
    };
  }

  return {
    report,
    carry: (selector) => carry(selector),
    carryBuilds: (selector, builds) => carry(selector, builds),
    async series() {
      const config = deps.config();
      const out: DiffSeries[] = [];
      for (const d of config.diffs) {
        for (const s of deps.services().filter((x) => x.job === d.job)) {
          try {
            // Carried like the API's default, so an older build's counts never land on lines the newest changed.
            const r = await report({ selector: { job: [s.job], service: [s.service] }, name: d.name }, async (sel) => (await carry(sel))?.map);
            out.push({ job: s.job, service: s.service, diff: d.name, ratio: r.report.totals.ratio });
          } catch {
            // A diff that cannot be computed now (git failing, no matching files yet) has no series rather than a made-up value.
          }
        }
      }
      return out;
    },
  };
}
