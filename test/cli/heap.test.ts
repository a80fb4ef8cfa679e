import { expect } from 'chai';
import { applyHeapGrowth, DEFAULT_HEAP_GROWTH, nodeSetsHeapGrowth, parseHeapGrowth } from '../../gateway/cli/heap.ts';
import { startGatewayProcess } from '../helpers/gateway-process.ts';

describe('--runtime.heap-growth (the heap policy, GOGC for the Node heap)', () => {
  it('parses a percent, 0, or names what was wrong', () => {
    expect(parseHeapGrowth(undefined)).to.equal(DEFAULT_HEAP_GROWTH);
    expect(parseHeapGrowth('50')).to.equal(50);
    expect(parseHeapGrowth('150%')).to.equal(150);
    expect(parseHeapGrowth('0')).to.equal(0);
    for (const bad of ['', 'abc', '-10', '5', '1.5', '1001', '1e3', '100 ; rm']) {
      const r = parseHeapGrowth(bad);
      expect(r, bad).to.have.property('error').that.includes('--runtime.heap-growth').and.includes(JSON.stringify(bad));
    }
  });

  it("sets V8's growing percent, unless node's own flag or 0 says otherwise", () => {
    const set: string[] = [];
    const setFlags = (f: string) => void set.push(f);
    expect(applyHeapGrowth(100, { execArgv: ['--max-old-space-size=4096'], setFlags })).to.deep.equal({ applied: 100 });
    expect(set).to.deep.equal(['--heap-growing-percent=100']);
    expect(applyHeapGrowth(0, { execArgv: [], setFlags })).to.deep.equal({ left: 'v8-default' });
    expect(applyHeapGrowth(100, { execArgv: ['--heap-growing-percent=30'], setFlags })).to.deep.equal({ left: 'node-flag' });
    expect(applyHeapGrowth(100, { execArgv: ['--heap_growing_percent', '30'], setFlags })).to.deep.equal({ left: 'node-flag' });
    expect(set, 'nothing set after the first').to.have.length(1);
    expect(nodeSetsHeapGrowth(['--heap-growing-percentage=1'])).to.equal(false);
  });

  it('the real binary logs the policy it applied', async function () {
    this.timeout(60_000);
    const gw = await startGatewayProcess({ configYaml: 'scrape_configs: []\n' });
    try {
      const line = gw.process.output().split('\n').find((l) => l.includes('heap growth policy'));
      expect(JSON.parse(line!).heapGrowth).to.deep.equal({ applied: DEFAULT_HEAP_GROWTH });
    } finally {
      await gw.stop();
    }
  });
});
