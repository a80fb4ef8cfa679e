import type { KeyValue } from '../../gateway/store/types.ts';

/** An in-memory KeyValue (the store's sublevel interface), for stages whose tests need no LevelDB. */
export function memoryKv<V>(): KeyValue<V> & { data: Map<string, V> } {
  const data = new Map<string, V>();
  return {
    data,
    async get(k) {
      return data.get(k);
    },
    async put(k, v) {
      data.set(k, structuredClone(v));
    },
    async del(k) {
      data.delete(k);
    },
    async *entries(opts) {
      for (const k of [...data.keys()].sort()) {
        if ((opts?.gte !== undefined && k < opts.gte) || (opts?.lt !== undefined && k >= opts.lt)) continue;
        yield [k, data.get(k)!];
      }
    },
    async batch(ops) {
      for (const op of ops) if (op.type === 'put') data.set(op.key, structuredClone(op.value));
      else data.delete(op.key);
    },
  };
}
