/**
 * The refresh discipline of the polling providers (file_sd, goc_sd): runs of
 * `run` never overlap, and `refresh()` resolves once a run that began after
 * the call has finished. A run in flight may have missed the change that
 * prompted a call: exactly one more follows it, shared by every caller
 * meanwhile. After `stopped()` turns true, refresh() does nothing.
 */
export function coalescedRefresh(run: () => Promise<void>, stopped: () => boolean): { refresh(): Promise<void>; inFlight(): Promise<void> | undefined } {
  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  function refresh(): Promise<void> {
    if (stopped()) return Promise.resolve();
    if (running === undefined) {
      running = run().finally(() => {
        running = undefined;
      });
      return running;
    }
    queued ??= running.then(() => {
      queued = undefined;
      return refresh();
    });
    return queued;
  }
  return { refresh, inFlight: () => running };
}
