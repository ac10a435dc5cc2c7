// A small, table-driven parser for Go `flag` package syntax, with Go-style
// usage output and an environment-variable fallback for every flag.
//
//   -name value   -name=value   --name value   --name=value
//   -flag  -flag=true|false (bools never take the next argument)
//   -help / -h / --help  → 'help' (unless the table defines such a flag)
//
// Parsing stops at the first argument that is not a flag, or after `--`; any
// argument left over is an error (the daemons this serves take none). Each row
// of the table is one flag; adding a flag is adding a row. Every operator error
// is a PacketHeadersError with code PH_ERR_FLAG and a one-line message naming
// the flag (or environment variable) and the offending value.
import { PacketHeadersError } from '../errors.js';
import { formatByteSize, formatDuration, parseByteSize, parseDuration, quote } from './units.js';

export type FlagKind = 'string' | 'bool' | 'int' | 'duration' | 'bytes' | 'enum' | 'list';

interface FlagBase<K extends FlagKind, V> {
  readonly kind: K;
  /** The name without dashes, e.g. `anonymize.ip`. */
  readonly name: string;
  readonly default: V;
  /** One-line help, printed under the flag by the usage text. */
  readonly help: string;
  /** Overrides the word printed after the flag name in the usage text. */
  readonly typeName?: string;
  /**
   * Not read from the environment: for a flag whose variable name is already
   * taken by the system (-user would read $USER, which every shell sets).
   */
  readonly commandLineOnly?: boolean;
}

export interface StringFlag extends FlagBase<'string', string> {
  /** Returns why a value is unacceptable, or undefined when it is fine. */
  validate?(value: string): string | undefined;
}
export interface BoolFlag extends FlagBase<'bool', boolean> {}
/** An integer in Go syntax (`256`, `-3`, `0x100`, `1_000`; a leading 0 means octal, as in Go). */
export interface IntFlag extends FlagBase<'int', number> {
  readonly min?: number;
  readonly max?: number;
  validate?(value: number): string | undefined;
}
/** A Go duration (`300ms`, `1m30s`); the value is in milliseconds. */
export interface DurationFlag extends FlagBase<'duration', number> {
  validate?(ms: number): string | undefined;
}
/** A byte size (`256MB`, `3GB`, `100`; powers of 1000); the value is in bytes. */
export interface BytesFlag extends FlagBase<'bytes', number> {
  validate?(bytes: number): string | undefined;
}
/** One of a fixed set of words. */
export interface EnumFlag<C extends string = string> extends FlagBase<'enum', C> {
  readonly choices: readonly C[];
}
/**
 * A repeatable string flag: every occurrence appends. From the environment the
 * value is a comma-separated list (empty items dropped).
 */
export interface ListFlag extends FlagBase<'list', readonly string[]> {
  /** Checks one item. */
  validate?(item: string): string | undefined;
}

export type FlagDef = StringFlag | BoolFlag | IntFlag | DurationFlag | BytesFlag | EnumFlag | ListFlag;

/** Flags keyed by the name of the field their value lands in. */
export type FlagTable = Readonly<Record<string, FlagDef>>;

/** The parsed value type of one flag definition. */
export type FlagValue<D extends FlagDef> = D extends { kind: 'enum'; choices: readonly (infer C)[] }
  ? C
  : D extends { kind: 'list' }
    ? string[]
    : D extends { kind: 'bool' }
      ? boolean
      : D extends { kind: 'string' }
        ? string
        : number;

export type FlagValues<T extends FlagTable> = { -readonly [P in keyof T]: FlagValue<T[P]> };

export type FlagSource = 'default' | 'command line' | 'environment';

export interface ParsedFlags<T extends FlagTable> {
  values: FlagValues<T>;
  /** Where each value came from. */
  sources: { [P in keyof T]: FlagSource };
}

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Declares a flag table. The `const` type parameter keeps enum choices as
 * literal types, so an enum flag's value is typed as the union of its choices.
 */
export function defineFlags<const T extends FlagTable>(table: T): T {
  checkTable(table);
  return table;
}

/** `-anonymize.ip` → `ANONYMIZE_IP`: upper-cased, everything outside [A-Z0-9] → `_`. */
export function envVarName(flagName: string): string {
  return flagName.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** The one error type of this module: code PH_ERR_FLAG, one line. */
export function flagError(message: string): PacketHeadersError {
  return new PacketHeadersError('PH_ERR_FLAG', message);
}

/**
 * Parses `argv` (without the program name) against `table`, then fills every
 * flag not given on the command line from its environment variable (an empty
 * variable counts as unset), then from its default. Returns 'help' when
 * -help/-h/--help is met before any error. Throws a PH_ERR_FLAG
 * PacketHeadersError on the first problem.
 */
export function parseFlags<T extends FlagTable>(
  table: T,
  argv: readonly string[],
  env: Environment = {},
): ParsedFlags<T> | 'help' {
  checkTable(table);
  const byName = new Map<string, [field: string, def: FlagDef]>();
  for (const [field, def] of Object.entries(table)) byName.set(def.name, [field, def]);

  const values: Record<string, unknown> = {};
  const sources: Record<string, FlagSource> = {};

  let i = 0;
  let lastBareBool: string | undefined; // for a hint when `-stream false` leaves `false` behind
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg.length < 2 || arg[0] !== '-') break; // first non-flag argument
    const dashes = arg[1] === '-' ? 2 : 1;
    if (dashes === 2 && arg.length === 2) {
      i++; // `--` ends the flags
      lastBareBool = undefined;
      break;
    }
    i++;
    const body = arg.slice(dashes);
    if (body === '' || body[0] === '-' || body[0] === '=') throw flagError(`bad flag syntax: ${oneLine(arg)}`);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    let text = eq < 0 ? undefined : body.slice(eq + 1);

    const entry = byName.get(name);
    if (entry === undefined) {
      if (name === 'help' || name === 'h') return 'help';
      throw flagError(`flag provided but not defined: -${oneLine(name)}`);
    }
    const [field, def] = entry;
    lastBareBool = undefined;
    if (def.kind === 'bool') {
      if (text === undefined) {
        text = 'true';
        lastBareBool = name;
      }
    } else if (text === undefined) {
      // Like Go, the next argument is the value even when it starts with a dash.
      if (i >= argv.length) throw flagError(`flag needs an argument: -${name}`);
      text = argv[i++]!;
    }

    let value: unknown;
    try {
      value = parseValue(def, text);
    } catch (error) {
      throw flagError(`invalid value ${quote(text)} for flag -${name}: ${reason(error)}`);
    }
    if (def.kind === 'list') {
      const list = sources[field] === 'command line' ? (values[field] as string[]) : [];
      list.push(value as string);
      value = list;
    }
    values[field] = value; // a repeated scalar flag: the last one wins, as in Go
    sources[field] = 'command line';
  }

  if (i < argv.length) {
    const hint = lastBareBool === undefined ? '' : ` (a boolean flag takes its value after "=", as in -${lastBareBool}=${oneLine(argv[i]!)})`;
    throw flagError(`unexpected argument ${quote(argv[i]!)}: only flags are accepted${hint}`);
  }

  for (const [field, def] of Object.entries(table)) {
    if (sources[field] !== undefined) continue;
    const variable = envVarName(def.name);
    const text = def.commandLineOnly === true ? undefined : env[variable];
    if (text === undefined || text === '') {
      values[field] = def.kind === 'list' ? [...def.default] : def.default;
      sources[field] = 'default';
      continue;
    }
    try {
      values[field] =
        def.kind === 'list'
          ? text
              .split(',')
              .map((item) => item.trim())
              .filter((item) => item !== '')
              .map((item) => parseValue(def, item) as string)
          : parseValue(def, text);
    } catch (error) {
      throw flagError(
        `invalid value ${quote(text)} in environment variable ${variable} for flag -${def.name}: ${reason(error)}`,
      );
    }
    sources[field] = 'environment';
  }

  return { values: values as FlagValues<T>, sources: sources as { [P in keyof T]: FlagSource } };
}

/**
 * Parses one textual value for `def` (for a list: one item) and runs its
 * checks. Throws an Error whose message is the reason, on failure.
 */
export function parseValue(def: FlagDef, text: string): string | boolean | number {
  switch (def.kind) {
    case 'string':
      return checked(def, text);
    case 'bool':
      return parseGoBool(text);
    case 'int': {
      const n = parseGoInt(text);
      if (def.min !== undefined && n < def.min) throw new RangeError(`must be at least ${def.min}`);
      if (def.max !== undefined && n > def.max) throw new RangeError(`must be at most ${def.max}`);
      return checked(def, n);
    }
    case 'duration':
      return checked(def, parseDuration(text));
    case 'bytes':
      return checked(def, parseByteSize(text));
    case 'enum':
      if (!def.choices.includes(text)) throw new RangeError(`valid values are ${choiceList(def.choices)}`);
      return text;
    case 'list':
      return checked(def, text);
  }
}

function checked<V>(def: { validate?(value: V): string | undefined }, value: V): V {
  const problem = def.validate?.(value);
  if (problem !== undefined) throw new RangeError(problem);
  return value;
}

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** Go's strconv.ParseBool. */
export function parseGoBool(text: string): boolean {
  if (GO_TRUE.has(text)) return true;
  if (GO_FALSE.has(text)) return false;
  throw new RangeError('not a boolean (use true or false)');
}

/**
 * Go's strconv.ParseInt(text, 0, 64) restricted to safe integers: optional
 * sign, then decimal, 0x hex, 0o octal, 0b binary or legacy 0-prefixed octal,
 * with `_` allowed between digits.
 */
export function parseGoInt(text: string): number {
  const m = /^([+-]?)(?:0([xXoObB])([0-9a-fA-F_]+)|(0[0-7_]*)|([1-9][0-9_]*))$/.exec(text);
  if (m === null) throw new RangeError('not an integer');
  const [, sign, prefix, prefixed, octal, decimal] = m;
  let digits: string;
  let radix: 'x' | 'o' | 'b' | 'd';
  if (prefix !== undefined) {
    radix = prefix.toLowerCase() as 'x' | 'o' | 'b';
    digits = prefixed!;
    if (digits.startsWith('_')) digits = digits.slice(1); // `0x_1f` is fine in Go
  } else if (octal !== undefined) {
    radix = 'o';
    digits = octal;
  } else {
    radix = 'd';
    digits = decimal!;
  }
  const valid = { x: /^[0-9a-fA-F]+(_[0-9a-fA-F]+)*$/, o: /^[0-7]+(_[0-7]+)*$/, b: /^[01]+(_[01]+)*$/, d: /^[0-9]+(_[0-9]+)*$/ };
  if (!valid[radix].test(digits)) throw new RangeError('not an integer');
  const clean = digits.replace(/_/g, '');
  const big = BigInt(radix === 'd' ? clean : `0${radix}${clean}`);
  const value = sign === '-' ? -big : big;
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new RangeError('value out of range');
  }
  return Number(value);
}

/**
 * Go's flag.PrintDefaults layout, flags sorted by name:
 *
 *   Usage of <program>:
 *     -name type
 *       \thelp text (default X)
 *
 * The default is shown unless it is the zero value of its kind; strings are
 * quoted. `epilogue`, if given, follows after a blank line.
 */
export function formatUsage(program: string, table: FlagTable, epilogue?: string): string {
  const defs = Object.values(table).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let out = `Usage of ${program}:\n`;
  for (const def of defs) {
    let line = `  -${def.name}`;
    const type = def.typeName ?? goTypeName(def.kind);
    if (type !== '') line += ` ${type}`;
    // Go keeps a one-letter bool flag's help on the same line.
    line += line.length <= 4 ? '\t' : '\n    \t';
    line += def.help.replace(/\n/g, '\n    \t');
    const shown = defaultText(def);
    if (shown !== undefined) line += ` (default ${shown})`;
    out += `${line}\n`;
  }
  if (epilogue !== undefined && epilogue !== '') out += `\n${epilogue.replace(/\n*$/, '\n')}`;
  return out;
}

function goTypeName(kind: FlagKind): string {
  switch (kind) {
    case 'bool':
      return '';
    case 'string':
    case 'int':
    case 'duration':
      return kind;
    case 'bytes':
    case 'enum':
    case 'list':
      return 'value'; // what Go prints for a custom flag.Value
  }
}

/** The default as usage shows it, or undefined for a zero value (which Go omits). */
export function defaultText(def: FlagDef): string | undefined {
  switch (def.kind) {
    case 'string':
      return def.default === '' ? undefined : quote(def.default);
    case 'bool':
      return def.default ? 'true' : undefined;
    case 'int':
      return def.default === 0 ? undefined : String(def.default);
    case 'duration':
      return def.default === 0 ? undefined : formatDuration(def.default);
    case 'bytes':
      return def.default === 0 ? undefined : formatByteSize(def.default);
    case 'enum':
      return def.default === '' ? undefined : def.default;
    case 'list':
      return def.default.length === 0 ? undefined : def.default.join(',');
  }
}

/** Programming errors in a table: caught by the first parse (and by the unit tests). */
function checkTable(table: FlagTable): void {
  const names = new Set<string>();
  const variables = new Map<string, string>();
  for (const def of Object.values(table)) {
    if (!/^[^-=\s][^=\s]*$/.test(def.name)) throw new TypeError(`bad flag name ${quote(def.name)}`);
    if (names.has(def.name)) throw new TypeError(`flag -${def.name} defined twice`);
    names.add(def.name);
    const variable = envVarName(def.name);
    const other = variables.get(variable);
    if (other !== undefined) throw new TypeError(`flags -${other} and -${def.name} share environment variable ${variable}`);
    variables.set(variable, def.name);
    if (def.kind === 'enum' && !def.choices.includes(def.default)) {
      throw new TypeError(`default of -${def.name} is not one of its choices`);
    }
  }
}

function choiceList(choices: readonly string[]): string {
  const quoted = choices.map(quote);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} and ${quoted[quoted.length - 1]}`;
}

function reason(error: unknown): string {
  return oneLine(error instanceof Error ? error.message : String(error));
}

/** Keeps a message on one line whatever the operator typed. */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}
