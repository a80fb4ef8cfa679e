/**
 * Writes deploy/grafana-dashboard.yaml: the ConfigMap of
 * config/grafana/covgate-dashboard.json for Grafana's dashboard sidecar.
 * Run after changing the dashboard: `npx tsx deploy/generate-dashboard.ts`
 * (test/deploy/manifests.test.ts fails while the two differ).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const json = readFileSync(path.join(here, '../config/grafana/covgate-dashboard.json'), 'utf8');
const doc = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: {
    name: 'covgate-grafana-dashboard',
    labels: { grafana_dashboard: '1' },
    annotations: { 'covgate.io/source': 'config/grafana/covgate-dashboard.json' },
  },
  data: { 'covgate-dashboard.json': json },
};
const header = [
  "# The Grafana dashboard (config/grafana/covgate-dashboard.json) for Grafana's dashboard",
  '# sidecar, which loads ConfigMaps labelled grafana_dashboard="1". A test checks',
  '# that data equals that file; regenerate with `npx tsx deploy/generate-dashboard.ts`.',
  '',
].join('\n');
writeFileSync(path.join(here, 'grafana-dashboard.yaml'), header + YAML.stringify(doc, { lineWidth: 0, blockQuote: 'literal' }));
