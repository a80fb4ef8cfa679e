import type { StaticConfig } from '../config/types.ts';
import { cloneGroups, type Discoverer, type SendGroups, type TargetGroup } from './types.ts';

/**
 * Groups of `static_configs`: one group per config, source `static/<i>`,
 * each target string becoming `{__address__: target}`.
 */
export function staticGroups(configs: readonly StaticConfig[]): TargetGroup[] {
  return configs.map((c, i) => ({
    source: `static/${i}`,
    labels: { ...c.labels },
    targets: c.targets.map((t) => ({ __address__: t })),
  }));
}

/**
 * A discoverer for `static_configs`. It sends its full set once, synchronously
 * inside `start`, and never again (a config change makes a new discoverer).
 * `stop` is a no-op and safe at any time.
 */
export function createStaticDiscoverer(configs: readonly StaticConfig[]): Discoverer {
  const groups = staticGroups(configs);
  let stopped = false;
  return {
    start(send: SendGroups) {
      if (stopped) return;
      send(cloneGroups(groups));
    },
    async stop() {
      stopped = true;
    },
  };
}
