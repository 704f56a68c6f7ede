/**
 * What Grafana's PostgreSQL data source does to a query before PostgreSQL sees it: template
 * variables interpolated, then macros expanded. Shared by the dashboard test and the BI bench.
 */

/** A dashboard template variable, as far as interpolation cares. */
export interface Variable {
  name: string;
  type: string;
  query: string;
  multi: boolean;
  includeAll: boolean;
  datasource: { type: string; uid: string };
}

/** A dashboard time range. */
export interface TimeRange {
  from: Date;
  to: Date;
}

/** A variable's selection: one value, several, or "All" (every option). */
export type Selection = { value: string } | { values: string[] };

/**
 * Template variables, as the PostgreSQL data source's `interpolateVariable` does it: a multi-value
 * or include-All variable becomes a list of quoted literals ('a','b'), a single-value one its raw
 * text. `$name`, `${name}` and `[[name]]` forms.
 */
export function interpolateVariables(
  text: string,
  variables: ReadonlyArray<Variable>,
  selected: Record<string, Selection>,
): string {
  return text.replace(/\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)/g, (match, a?: string, b?: string, c?: string) => {
    const name = (a ?? b ?? c)!;
    if (name.startsWith('__')) return match; // a macro or a built-in, not a dashboard variable
    const variable = variables.find((v) => v.name === name);
    if (!variable) throw new Error(`query uses $${name}, which is not a variable of the dashboard`);
    const selection = selected[name];
    if (!selection) throw new Error(`no value chosen for $${name} in the test`);
    const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
    if ('values' in selection) {
      if (!(variable.multi || variable.includeAll)) throw new Error(`$${name} is single-value`);
      return selection.values.map(quote).join(',');
    }
    return variable.multi || variable.includeAll ? quote(selection.value) : selection.value;
  });
}

/** RFC 3339 in UTC with the fraction trimmed, as Go's time.RFC3339Nano formats it. */
function rfc3339(date: Date): string {
  return date
    .toISOString()
    .replace(/\.?0+Z$/, 'Z')
    .replace(/\.Z$/, 'Z');
}

/** Seconds of a Grafana interval like 5m, 1h, 1d. */
function intervalSeconds(text: string): number {
  const match = /^'?(\d+)(ms|s|m|h|d|w)'?$/.exec(text.trim());
  if (!match) throw new Error(`interval ${text} not understood`);
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[
    match[2] as 'ms' | 's' | 'm' | 'h' | 'd' | 'w'
  ];
  return Number(match[1]) * unit;
}

/**
 * The server-side macros of Grafana's PostgreSQL data source (pkg/tsdb/grafana-postgresql-datasource
 * macros.go), with balanced parentheses in arguments. An unknown macro fails the test rather than
 * reaching PostgreSQL as text.
 */
export function expandMacros(text: string, range: TimeRange): string {
  const from = rfc3339(range.from);
  const to = rfc3339(range.to);
  let out = '';
  let rest = text;
  for (;;) {
    const at = rest.search(/\$__\w+\(/);
    if (at < 0) break;
    out += rest.slice(0, at);
    const name = /^\$__(\w+)\(/.exec(rest.slice(at))![1]!;
    let depth = 0;
    let end = at + name.length + 3; // the opening parenthesis
    const argsStart = end + 1;
    for (; end < rest.length; end++) {
      if (rest[end] === '(') depth++;
      else if (rest[end] === ')' && --depth === 0) break;
    }
    const args = splitArgs(rest.slice(argsStart, end));
    out += macro(name, args, { from, to, range });
    rest = rest.slice(end + 1);
  }
  if (/\$__\w+/.test(out + rest)) throw new Error(`unexpanded macro in: ${out + rest}`);
  return out + rest;
}

function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === ',' && depth === 0) {
      args.push(current.trim());
      current = '';
      continue;
    }
    if (char === '(') depth++;
    if (char === ')') depth--;
    current += char;
  }
  if (current.trim() !== '' || args.length > 0) args.push(current.trim());
  return args;
}

function macro(
  name: string,
  args: string[],
  { from, to, range }: { from: string; to: string; range: TimeRange },
): string {
  const epoch = (d: Date) => Math.floor(d.getTime() / 1000);
  switch (name) {
    case 'time':
      return `${args[0]} AS "time"`;
    case 'timeEpoch':
      return `extract(epoch from ${args[0]}) as "time"`;
    case 'timeFilter':
      return `${args[0]} BETWEEN '${from}' AND '${to}'`;
    case 'timeFrom':
      return `'${from}'`;
    case 'timeTo':
      return `'${to}'`;
    case 'timeGroup':
    case 'timeGroupAlias': {
      const seconds = intervalSeconds(args[1]!);
      const group = `floor(extract(epoch from ${args[0]})/${seconds})*${seconds}`;
      return name === 'timeGroupAlias' ? `${group} AS "time"` : group;
    }
    case 'unixEpochFilter':
      return `${args[0]} >= ${epoch(range.from)} AND ${args[0]} <= ${epoch(range.to)}`;
    case 'unixEpochFrom':
      return String(epoch(range.from));
    case 'unixEpochTo':
      return String(epoch(range.to));
    default:
      throw new Error(`macro $__${name} is not emulated by this test: add it`);
  }
}
