import { expect } from 'chai';
import { errorChain } from '../../gateway/store/coverage-store.ts';

describe('store/errorChain', () => {
  it("names LevelDB's cause and the errno behind strerror's text", () => {
    const io = Object.assign(new Error('IO error: /data/000005.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });
    const open = Object.assign(new Error('Database failed to open', { cause: io }), { code: 'LEVEL_DATABASE_NOT_OPEN' });
    expect(errorChain(open)).to.equal('Database failed to open: IO error: /data/000005.log: No space left on device (ENOSPC)');
    expect(errorChain(new Error('IO error: x: Input/output error'))).to.equal('IO error: x: Input/output error (EIO)');
    expect(errorChain(Object.assign(new Error('write failed'), { code: 'ENOSPC' }))).to.equal('write failed (ENOSPC)');
    expect(errorChain('plain')).to.equal('plain');
  });
});
