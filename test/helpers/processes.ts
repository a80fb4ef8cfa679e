import { startGatewayProcess, type GatewayProcess } from './gateway-process.ts';
import { startIstanbulExporter, type ExporterOptions, type ExporterProcess } from './exporter-process.ts';
import { startUpstream } from '../fakes/upstream-server.ts';

/**
 * Per-test real processes (gateways, sample exporters, upstreams), stopped
 * after each test in reverse start order. Call inside a `describe`.
 */
export function useProcesses() {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
  });
  return {
    async exporter(opts: ExporterOptions = {}): Promise<ExporterProcess> {
      const e = await startIstanbulExporter(opts);
      cleanup.push(() => e.stop());
      return e;
    },
    async gateway(configYaml: string, dataDir?: string, env?: NodeJS.ProcessEnv): Promise<GatewayProcess> {
      const g = await startGatewayProcess({ configYaml, dataDir, env });
      cleanup.push(() => g.stop());
      return g;
    },
    async upstream() {
      const u = await startUpstream();
      cleanup.push(() => u.close());
      return u;
    },
  };
}
