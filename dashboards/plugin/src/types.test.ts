import { describe, expect, it } from 'vitest';

import { formatAttributes, parseAttributes } from './types';

describe('attributes text', () => {
  it('reads key=value pairs, quoted values with spaces and quotes', () => {
    expect(parseAttributes('http.route=/cart region="eu west" note="say \\"hi\\"" empty=""')).toEqual({
      'http.route': '/cart',
      region: 'eu west',
      note: 'say "hi"',
      empty: '',
    });
  });
  it('writes what it reads', () => {
    const attrs = { b: 'two words', a: '/x', q: 'a"b', e: '' };
    expect(parseAttributes(formatAttributes(attrs))).toEqual(attrs);
    expect(formatAttributes(attrs)).toBe('a=/x b="two words" e="" q="a\\"b"');
  });
});
