import type { TargetGroup } from '../../gateway/discovery/types.ts';

/**
 * Records every `send` of a discoverer and lets a test await the first
 * (later) send satisfying a predicate, with a generous timeout instead of
 * sleeping.
 */
export function recorder() {
  const sends: TargetGroup[][] = [];
  let waiters: Array<{ pred: (g: TargetGroup[]) => boolean; resolve: (g: TargetGroup[]) => void }> = [];
  const send = (groups: TargetGroup[]) => {
    sends.push(groups);
    const ready = waiters.filter((w) => w.pred(groups));
    waiters = waiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resolve(groups);
  };
  /** Resolves on the next send (after this call) for which `pred` holds. */
  const next = (pred: (g: TargetGroup[]) => boolean = () => true, timeoutMs = 10_000): Promise<TargetGroup[]> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching send within ${timeoutMs}ms; sends: ${JSON.stringify(sends)}`)), timeoutMs);
      waiters.push({
        pred,
        resolve: (g) => {
          clearTimeout(timer);
          resolve(g);
        },
      });
    });
  return { send, sends, next, last: () => sends.at(-1) };
}

/** All `__address__` values of a set of groups, in order. */
export function addresses(groups: TargetGroup[] | undefined): string[] {
  return (groups ?? []).flatMap((g) => g.targets.map((t) => t.__address__!));
}

/** A provider the test drives by hand: `push` sends a full set, counters show the lifecycle. */
export function fakeDiscoverer(initial?: TargetGroup[]) {
  let send: ((g: TargetGroup[]) => void) | undefined;
  const fake = {
    starts: 0,
    stops: 0,
    discoverer: {
      start(s: (g: TargetGroup[]) => void) {
        fake.starts++;
        send = s;
        if (initial) s(initial);
      },
      async stop() {
        fake.stops++;
      },
    },
    push(groups: TargetGroup[]) {
      send?.(groups);
    },
  };
  return fake;
}

/** A one-target group. */
export function group(source: string, ...addrs: string[]): TargetGroup {
  return { source, labels: {}, targets: addrs.map((a) => ({ __address__: a })) };
}
