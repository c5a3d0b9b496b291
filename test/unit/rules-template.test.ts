import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTemplate, renderTemplate, sprintf, type TemplateData } from '../../functions/shared/rules/template.ts';

function render(text: string, data: Partial<TemplateData> = {}): string {
  const parsed = parseTemplate(text);
  if (!parsed.ok) throw new Error(`${parsed.error.message} at ${parsed.error.offset}`);
  return renderTemplate(parsed.template, {
    labels: data.labels ?? {},
    value: data.value === undefined ? 1 : data.value,
  });
}

function failure(text: string): { offset: number; message: string } {
  const parsed = parseTemplate(text);
  if (parsed.ok) throw new Error(`parsed: ${text}`);
  return parsed.error;
}

describe('annotation templates', () => {
  it('substitutes labels and the value, an unknown label as empty', () => {
    expect(
      render('{{ $labels.service }} at {{ $value }}{{ $labels.missing }}!', {
        labels: { service: 'api' },
        value: 0.25,
      }),
    ).toBe('api at 0.25!');
    expect(render('{{ .Labels.service }} {{ .Value }}', { labels: { service: 'api' }, value: 3 })).toBe('api 3');
  });

  it('humanizes as Prometheus does', () => {
    const cases: [string, number, string][] = [
      ['humanize', 1234, '1.234k'],
      ['humanize', 1_500_000, '1.5M'],
      ['humanize', 0.005, '5m'],
      ['humanize', 0, '0'],
      ['humanize', 12.3456, '12.35'],
      ['humanize1024', 2048, '2ki'],
      ['humanizePercentage', 0.1234, '12.34%'],
      ['humanizePercentage', 0.5, '50%'],
      ['humanizeDuration', 90, '1m 30s'],
      ['humanizeDuration', 93_784, '1d 2h 3m 4s'],
      ['humanizeDuration', 1.5, '1.5s'],
      ['humanizeDuration', 0.25, '250ms'],
      ['humanizeDuration', 0, '0s'],
    ];
    for (const [func, value, expected] of cases) {
      expect(render(`{{ $value | ${func} }}`, { value })).toBe(expected);
      expect(render(`{{ ${func} $value }}`, { value })).toBe(expected);
    }
  });

  it('formats with printf, piped or called', () => {
    expect(render('{{ printf "%.2f" $value }}', { value: 1.23456 })).toBe('1.23');
    expect(render('{{ $value | printf "%.1f%%" }}', { value: 12.34 })).toBe('12.3%');
    expect(render('{{ printf "%s has %d" $labels.service $value }}', { labels: { service: 'api' }, value: 7 })).toBe(
      'api has 7',
    );
    expect(sprintf('%5.1f|%-4s|%04d|%e|%g|%q|%x|%v', [1.26, 'ab', 42, 1500, 0.0001, 'q', 255, 1e6])).toBe(
      '  1.3|ab  |0042|1.500000e+03|0.0001|"q"|ff|1e+06',
    );
    expect(sprintf('%d %s', [1])).toBe('1 %!s(MISSING)');
  });

  it('renders a missing value as "no data", in functions too', () => {
    expect(render('{{ $value }} / {{ $value | humanize }} / {{ printf "%.2f" $value }}', { value: null })).toBe(
      'no data / no data / no data',
    );
  });

  it('trims around {{- and -}} and drops comments', () => {
    expect(render('a  {{- $value -}}  b {{/* note */}}c', { value: 2 })).toBe('a2b c');
    expect(render('{{ toUpper "x" }}{{ $labels.s | title }}', { labels: { s: 'hello world' } })).toBe('XHello World');
  });

  it.each([
    ['{{ $value ', 0, /unclosed action/],
    ['ok {{ }}', 5, /empty action/],
    ['{{ $value | humanise }}', 12, /'humanise' is not a function \(did you mean 'humanize'\?\)/],
    ['{{ humanize }}', 3, /humanize takes 1 argument/],
    ['{{ if $value }}x{{ end }}', 3, /'if' is not supported/],
    ['{{ $foo }}', 3, /undefined variable '\$foo'/],
    ['{{ $labels.a-b }}', 3, /invalid label name 'a-b'/],
    ['{{ "abc }}', 3, /unterminated string/],
    ['{{ ($value) }}', 3, /parentheses are not supported/],
    ['{{ $value $value }}', 10, /'\$value' is not a function/],
  ])('rejects %j at offset %i', (text, offset, message) => {
    const error = failure(text);
    expect(error.message).toMatch(message);
    expect(error.offset).toBe(offset);
  });

  it('never throws while parsing or rendering random text', () => {
    const pieces = fc.constantFrom(
      '{{',
      '}}',
      '$value',
      '$labels.x',
      '|',
      'printf',
      '"%d"',
      'humanize',
      ' ',
      '-',
      'a',
      '"',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.array(pieces).map((p) => p.join('')),
        ),
        fc.option(fc.double()),
        (text, value) => {
          const parsed = parseTemplate(text);
          if (parsed.ok) expect(typeof renderTemplate(parsed.template, { labels: { x: 'y' }, value })).toBe('string');
          else expect(parsed.error.offset).toBeLessThanOrEqual(text.length);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
