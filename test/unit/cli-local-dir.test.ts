import { describe, expect, it } from 'vitest';
import { DEFAULT_LOCAL_DIR, localDir } from '../../cli/local-dir.ts';

describe('the local stack flag every command shares', () => {
  const bucket = (value: string | undefined) => ({ flag: '--bucket <name>', value });

  it('takes --local or --dir as the same flag, and .skein when neither nor a remote target is given', () => {
    expect(localDir({ local: 'a' })).toBe('a');
    expect(localDir({ dir: 'a' })).toBe('a');
    expect(localDir({ local: 'a', dir: 'a' })).toBe('a');
    expect(localDir({}, bucket(undefined))).toBe(DEFAULT_LOCAL_DIR);
    expect(DEFAULT_LOCAL_DIR).toBe('.skein');
  });

  it('targets AWS when the remote flag is given', () => {
    expect(localDir({}, bucket('b'))).toBeUndefined();
  });

  it.each([
    [{ local: 'a', dir: 'b' }, undefined, /give the local stack folder once/],
    [{ local: 'a' }, 'b', /give either --local <dir> or --bucket <name>, not both/],
    [{ dir: ' ' }, undefined, /--local needs a folder/],
  ])('refuses %j with remote %s', (values, remote, message) => {
    expect(() => localDir(values, bucket(remote))).toThrow(message);
  });
});
