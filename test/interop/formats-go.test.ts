/**
 * Interop with the Go toolchain: a real `go test -coverprofile` (count mode,
 * two packages) is decoded, re-encoded as gocover, and `go tool cover -func`
 * must accept our output and report the same per-function and total numbers.
 * Debian package: golang-1.23-go (bookworm-backports).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { decodePayload, encodeCoverage } from '../../gateway/formats/index.ts';
import { summarize } from '../../gateway/model/index.ts';
import { requireTools, run } from './formats-tools.ts';

const FILES: Record<string, string> = {
  'go.mod': 'module example.com/covdemo\n\ngo 1.19\n',
  'cart/cart.go': `package cart

type Cart struct{ items []int }

func (c *Cart) Add(price int) {
	if price <= 0 {
		return
	}
	c.items = append(c.items, price)
}

func (c *Cart) Total() int {
	t := 0
	for _, p := range c.items {
		t += p
	}
	return t
}

func (c *Cart) Clear() { c.items = nil }
`,
  'cart/cart_test.go': `package cart

import "testing"

func TestCart(t *testing.T) {
	var c Cart
	c.Add(3)
	c.Add(4)
	c.Add(5)
	if c.Total() != 12 {
		t.Fatal("total")
	}
}
`,
  'pricing/pricing.go': `package pricing

func Discount(total int, vip bool) int {
	if vip {
		return total * 9 / 10
	}
	if total > 100 {
		return total - 5
	}
	return total
}
`,
  'pricing/pricing_test.go': `package pricing

import "testing"

func TestDiscount(t *testing.T) {
	if Discount(200, false) != 195 {
		t.Fatal("discount")
	}
}
`,
};

/** Tests use Go 1.23 from bookworm-backports by path, never whatever `go` is on PATH. */
const GO = '/usr/lib/go-1.23/bin/go';

describe('interop: Go coverprofile (go test / go tool cover)', function () {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  before(function () {
    requireTools(this, [GO], 'golang-1.23-go');
    dir = mkdtempSync(join(tmpdir(), 'covgate-go-'));
    for (const [name, text] of Object.entries(FILES)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), text);
    }
    env = { GOPATH: join(dir, '.gopath'), GOCACHE: join(dir, '.gocache'), GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', GOPROXY: 'off', CGO_ENABLED: '0' };
  });
  after(() => {
    if (dir) {
      // The module cache is read-only by design; make it removable.
      run('chmod', ['-R', 'u+w', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('decodes a real count-mode profile and go tool cover -func reads our re-encoded one identically', async () => {
    run(GO, ['test', '-covermode=count', '-coverprofile=cover.out', './...'], { cwd: dir, env });
    const original = readFileSync(join(dir, 'cover.out'), 'utf8');
    const decoded = await decodePayload(original, { declaredFormat: 'auto', contentType: 'text/plain' });
    expect(decoded.format).to.equal('gocover');
    const map = decoded.coverage!;
    expect(Object.keys(map).sort()).to.deep.equal(['example.com/covdemo/cart/cart.go', 'example.com/covdemo/pricing/pricing.go']);

    // Specific blocks (by start line): Add's body ran 3 times but its early return (the block from 6.16) never,
    // the loop body (from 14.28) ran 3 times, Clear never ran.
    const cart = map['example.com/covdemo/cart/cart.go']!;
    const hitsAtLine = (line: number) => Object.entries(cart.statementMap).filter(([, r]) => r.start.line === line).map(([id]) => cart.s[id]);
    expect(hitsAtLine(5)).to.deep.equal([3]);
    expect(hitsAtLine(6)).to.deep.equal([0]);
    expect(hitsAtLine(14)).to.deep.equal([3]);
    expect(hitsAtLine(20)).to.deep.equal([0]);

    const ours = encodeCoverage(map, 'gocover').body;
    writeFileSync(join(dir, 'ours.out'), ours);
    const want = run(GO, ['tool', 'cover', '-func=cover.out'], { cwd: dir, env });
    const got = run(GO, ['tool', 'cover', '-func=ours.out'], { cwd: dir, env });
    expect(got).to.equal(want);
    expect(got).to.match(/total:\s+\(statements\)\s+\d+\.\d%/);

    // covgate's own summary uses Go's statement weighting: its statements figure is go tool cover -func's total.
    const goTotal = Number(/total:\s+\(statements\)\s+(\d+\.\d)%/.exec(want)![1]);
    const summary = summarize(map);
    expect(summary.semantics).to.equal('go-statements');
    expect(((100 * summary.statements.covered) / summary.statements.total).toFixed(1)).to.equal(goTotal.toFixed(1));
    expect(summary.functions.available).to.equal(false);
    expect(summary.branches.available).to.equal(false);
    const json = JSON.parse(encodeCoverage(map, 'json-summary').body) as { total: { statements: { covered: number; total: number }; semantics: string } };
    expect(json.total.semantics).to.equal('go-statements');
    expect(json.total.statements).to.include({ covered: summary.statements.covered, total: summary.statements.total });
  });
});
