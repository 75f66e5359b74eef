/**
 * Output formats that print results in the bytes ClickHouse 18.16 prints for the same rows
 * (JSON statistics values aside; Pretty formats never colour).
 *
 *   const f = createFormatter('PrettyCompact', columns);
 *   out.write(f.begin()); for each block: out.write(f.block(rows)); out.write(f.end(summary));
 */
import type { Column } from '../types';
import { chError } from '../../errors/quell-error';
import { CsvFormatter } from './csv';
import { JsonCompactFormatter, JsonEachRowFormatter, JsonFormatter } from './json';
import { NullFormatter } from './null';
import { PrettyFormatter } from './pretty';
import { TabSeparatedFormatter, TskvFormatter } from './tab-separated';
import type { FormatOptions, Formatter, FormatterFactory } from './types';
import { ValuesFormatter } from './values-format';
import { VerticalFormatter } from './vertical';

export type { FormatOptions, FormatSummary, Formatter, Row } from './types';
export { escapeTsv, jsonString, quoteCsv, quoteSql, codePointCount } from './escape';
export {
  PRETTY_NULL,
  ESCAPED_NULL,
  formatFloat,
  formatInt,
  formatDateTime,
  textCell,
  escapedCell,
  quotedCell,
  csvCell,
  jsonCell,
  alignsRight,
} from './values';

/** Alternative names ClickHouse registers for the same output format (case-sensitive). */
const ALIASES: ReadonlyMap<string, string> = new Map([
  ['TSV', 'TabSeparated'],
  ['TSVRaw', 'TabSeparatedRaw'],
  ['TSVWithNames', 'TabSeparatedWithNames'],
  ['TSVWithNamesAndTypes', 'TabSeparatedWithNamesAndTypes'],
]);

const FACTORIES: ReadonlyMap<string, FormatterFactory> = new Map<string, FormatterFactory>([
  ['TabSeparated', (c) => new TabSeparatedFormatter(c, false, false, false)],
  ['TabSeparatedRaw', (c) => new TabSeparatedFormatter(c, false, false, true)],
  ['TabSeparatedWithNames', (c) => new TabSeparatedFormatter(c, true, false, false)],
  ['TabSeparatedWithNamesAndTypes', (c) => new TabSeparatedFormatter(c, true, true, false)],
  ['CSV', (c) => new CsvFormatter(c, false)],
  ['CSVWithNames', (c) => new CsvFormatter(c, true)],
  ['JSON', (c) => new JsonFormatter(c)],
  ['JSONCompact', (c) => new JsonCompactFormatter(c)],
  ['JSONEachRow', (c) => new JsonEachRowFormatter(c)],
  ['Pretty', (c, o) => new PrettyFormatter(c, 'Pretty', false, o)],
  // The NoEscapes variants only drop ANSI colours, which quell never prints.
  ['PrettyNoEscapes', (c, o) => new PrettyFormatter(c, 'Pretty', false, o)],
  ['PrettyCompact', (c, o) => new PrettyFormatter(c, 'PrettyCompact', false, o)],
  ['PrettyCompactNoEscapes', (c, o) => new PrettyFormatter(c, 'PrettyCompact', false, o)],
  ['PrettyCompactMonoBlock', (c, o) => new PrettyFormatter(c, 'PrettyCompact', true, o)],
  ['PrettySpace', (c, o) => new PrettyFormatter(c, 'PrettySpace', false, o)],
  ['PrettySpaceNoEscapes', (c, o) => new PrettyFormatter(c, 'PrettySpace', false, o)],
  ['Vertical', (c, o) => new VerticalFormatter(c, o)],
  ['TSKV', (c) => new TskvFormatter(c)],
  ['Values', (c) => new ValuesFormatter(c)],
  ['Null', () => new NullFormatter()],
]);

/** Every name `FORMAT …` accepts for output, aliases included. */
export const FORMAT_NAMES: readonly string[] = Object.freeze([...FACTORIES.keys(), ...ALIASES.keys()]);

/** 'TSV' → 'TabSeparated', 'TSVWithNames' → 'TabSeparatedWithNames'; undefined if unknown. Case-sensitive. */
export function canonicalFormatName(format: string): string | undefined {
  const name = ALIASES.get(format) ?? format;
  return FACTORIES.has(name) ? name : undefined;
}

/** A fresh formatter for one result; unknown names fail with ClickHouse's UNKNOWN_FORMAT (73). */
export function createFormatter(format: string, columns: readonly Column[], options: FormatOptions = {}): Formatter {
  const name = canonicalFormatName(format);
  const factory = name === undefined ? undefined : FACTORIES.get(name);
  if (factory === undefined) throw chError('UNKNOWN_FORMAT', `Unknown format ${format}`);
  return factory(columns, options);
}
