import { expect } from 'chai';
import { createPathFilter, parseGlobList } from '../../exporters/shared/path-filter.ts';
import { optionsFromEnv } from '../../exporters/node/index.ts';

describe('exporter include/exclude (c8-style globs)', () => {
  const cwd = '/srv/app';

  it('by default reports app files, not node_modules nor tests (c8 defaults)', () => {
    const keep = createPathFilter({ cwd });
    expect(keep('/srv/app/src/server.js')).to.equal(true);
    expect(keep('/srv/app/node_modules/express/lib/router/index.js')).to.equal(false);
    expect(keep('/srv/app/test/api.test.js')).to.equal(false);
    expect(keep('/srv/app/src/api.test.ts')).to.equal(false);
    expect(keep('/srv/app/src/__tests__/x.js')).to.equal(false);
  });

  it('include restricts; an include naming node_modules covers them; exclude replaces the defaults', () => {
    const express = createPathFilter({ cwd, include: ['node_modules/express/**'] });
    expect(express('/srv/app/node_modules/express/lib/express.js')).to.equal(true);
    expect(express('/srv/app/node_modules/qs/lib/parse.js')).to.equal(false);
    expect(express('/srv/app/src/server.js')).to.equal(false);
    const onlySrc = createPathFilter({ cwd, include: ['src/**'], exclude: ['src/generated/**'] });
    expect(onlySrc('/srv/app/src/a.js')).to.equal(true);
    expect(onlySrc('/srv/app/src/generated/b.js')).to.equal(false);
    expect(createPathFilter({ cwd, exclude: [] })('/srv/app/test/x.js')).to.equal(true);
    expect(createPathFilter({ cwd, includeNodeModules: true })('/srv/app/node_modules/a/b.js')).to.equal(true);
  });

  it('matches files outside cwd by their absolute path', () => {
    expect(createPathFilter({ cwd, include: ['/opt/lib/**'] })('/opt/lib/x.js')).to.equal(true);
    expect(createPathFilter({ cwd, include: ['src/**'] })('/opt/lib/x.js')).to.equal(false);
  });

  it('reads COVGATE_INCLUDE / COVGATE_EXCLUDE as comma-separated lists', () => {
    expect(parseGlobList(' a/** , ,b/*.js')).to.deep.equal(['a/**', 'b/*.js']);
    expect(parseGlobList('')).to.equal(undefined);
    const o = optionsFromEnv({ COVGATE_INCLUDE: 'src/**,lib/**', COVGATE_EXCLUDE: 'src/gen/**' });
    expect(o.include).to.deep.equal(['src/**', 'lib/**']);
    expect(o.exclude).to.deep.equal(['src/gen/**']);
  });
});
