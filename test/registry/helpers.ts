import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import type { RegistrationConfig } from '../../gateway/config/types.ts';
import type { Discoverer, TargetGroup } from '../../gateway/discovery/types.ts';
import { createAllowlist, type LookupAll } from '../../gateway/registry/allowlist.ts';
import { createRegistry, type Lease, type ProviderHost, type Registry, type RegistryDeps } from '../../gateway/registry/registry.ts';
import { createCoverageStore } from '../../gateway/store/index.ts';
import type { CoverageStore } from '../../gateway/store/types.ts';
import { FakeClock } from '../fakes/clock.ts';

export const START = Date.parse('2026-01-01T00:00:00Z');

export function registrationConfig(extra: Partial<RegistrationConfig> = {}): RegistrationConfig {
  return { enabled: true, default_ttl: 60_000, max_ttl: 3_600_000, allowed_targets: ['127.0.0.0/8', '10.0.0.0/8', '*.svc.cluster.local'], ...extra };
}

/** Resolves a few names without DNS. */
export const fakeLookup: LookupAll = async (host) => {
  if (host === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
  if (host === 'metadata.google.internal') return [{ address: '169.254.169.254', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

/** A discovery manager stand-in that starts providers at once and records every send. */
export class FakeProviderHost implements ProviderHost {
  readonly providers = new Map<string, Discoverer>();
  readonly sends: Array<{ job: string; groups: TargetGroup[] }> = [];
  readonly calls: string[] = [];

  async addProvider(job: string, name: string, d: Discoverer): Promise<void> {
    this.calls.push(`add ${job}/${name}`);
    await this.providers.get(job)?.stop();
    this.providers.set(job, d);
    await d.start((groups) => this.sends.push({ job, groups: structuredClone(groups) }));
  }

  async removeProvider(job: string, name: string): Promise<void> {
    this.calls.push(`remove ${job}/${name}`);
    await this.providers.get(job)?.stop();
    this.providers.delete(job);
  }

  lastSend(job: string): TargetGroup[] | undefined {
    return this.sends.filter((s) => s.job === job).at(-1)?.groups;
  }
}

/** A registry over a real LevelDB in a temp folder and the FakeClock (clock and scheduler) the test moves and fires. */
export class RegistryHarness {
  readonly dir = mkdtempSync(join(tmpdir(), 'covgate-registry-'));
  readonly clock = new FakeClock(START);
  readonly scheduler = this.clock;
  get now(): number {
    return this.clock.ms;
  }
  set now(ms: number) {
    this.clock.ms = ms;
  }
  config = registrationConfig();
  readonly finalScrapes: Lease[] = [];
  /** What the final scrape does; tests replace it to fail or to block. */
  finalScrape: (lease: Lease) => Promise<void> = async () => {};
  readonly discovery = new FakeProviderHost();
  changes = 0;
  db!: Level<string, unknown>;
  store!: CoverageStore;
  registry!: Registry;

  async open(extra: Partial<RegistryDeps> = {}): Promise<Registry> {
    this.db = new Level<string, unknown>(this.dir, { valueEncoding: 'json' });
    this.store = createCoverageStore(this.db);
    await this.store.open();
    this.registry = createRegistry({
      kv: this.store.sublevel<Lease>('registry'),
      clock: this.clock,
      scheduler: this.scheduler,
      config: () => this.config,
      allowlist: createAllowlist(this.config.allowed_targets, { lookup: fakeLookup }),
      finalScrape: async (lease) => {
        this.finalScrapes.push(structuredClone(lease));
        await this.finalScrape(lease);
      },
      discovery: this.discovery,
      onChange: () => this.changes++,
      ...extra,
    });
    await this.registry.open();
    return this.registry;
  }

  /** Stops the registry and closes the database, as a gateway shutdown does. */
  async close(): Promise<void> {
    await this.registry?.stop();
    await this.store?.close();
  }

  async storedIds(): Promise<string[]> {
    const ids: string[] = [];
    for await (const [k] of this.store.sublevel<Lease>('registry').entries()) ids.push(k);
    return ids;
  }

  async dispose(): Promise<void> {
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
