import { describe, expect, it } from 'vitest';
import { interpolate } from './config-files.js';

describe('interpolate', () => {
  it('replaces ${NAME} and ${NAME:-default}; an empty variable takes the default', () => {
    const vars = { HOST: 'relay', EMPTY: '' };
    expect(interpolate('url: http://${HOST}:9474', vars, 'f.yaml')).toBe('url: http://relay:9474');
    expect(interpolate('a: ${NOPE:-x}, b: ${EMPTY:-y}, c: ${HOST:-z}', vars, 'f.yaml')).toBe('a: x, b: y, c: relay');
    expect(interpolate('no variables, $HOME stays', vars, 'f.yaml')).toBe('no variables, $HOME stays');
  });

  it('an unset variable without a default names the file, the line and the variable', () => {
    expect(() => interpolate('a: 1\nb: ${MISSING}\n', {}, 'suite.yaml')).toThrow(
      'suite.yaml:2: ${MISSING} is not set and has no default (write ${MISSING:-value})',
    );
  });
});
