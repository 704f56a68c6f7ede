/**
 * Reading the Dockerfile and .dockerignore without Docker (pure: text in, data out).
 *
 * Enough of the Dockerfile grammar for this project's file, and strict about the rest: anything
 * the emulation in `emulate.ts` could get wrong (shell-form CMD, ENV with substitutions, glob
 * COPY sources, unknown instructions) is an error here, so the emulation cannot silently drift
 * from the image. .dockerignore follows Docker's rules (moby/patternmatcher): Go filepath.Match
 * globs plus `**`, `!` re-includes, the last matching line wins, and a pattern that matches a
 * directory matches everything under it.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  keyword: string;
  /** `--name=value` flags before the arguments (COPY --from, HEALTHCHECK --interval, ...). */
  flags: Record<string, string>;
  /** The arguments after the flags, continuation lines joined with a space. */
  args: string;
  /** 1-based line of the keyword, for messages. */
  line: number;
}

export interface Stage {
  name: string;
  /** The base image reference after ARG substitution. */
  from: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

/** What `docker inspect` would show as the final stage's Config. */
export interface ImageConfig {
  from: string;
  env: Record<string, string>;
  workdir: string;
  user: string;
  entrypoint: string[];
  cmd: string[];
  healthcheck: {
    test: string[];
    interval?: string;
    timeout?: string;
    startPeriod?: string;
    startInterval?: string;
    retries?: string;
  } | null;
  expose: string[];
  volumes: string[];
}

const KNOWN = new Set([
  'FROM',
  'ARG',
  'ENV',
  'WORKDIR',
  'COPY',
  'RUN',
  'USER',
  'VOLUME',
  'EXPOSE',
  'HEALTHCHECK',
  'ENTRYPOINT',
  'CMD',
  'LABEL',
]);

export class DockerfileError extends Error {
  constructor(line: number, message: string) {
    super(`Dockerfile line ${line}: ${message}`);
    this.name = 'DockerfileError';
  }
}

/** Parses the Dockerfile into stages of instructions. */
export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { keyword, rest, line } of logicalLines(text)) {
    if (!KNOWN.has(keyword))
      throw new DockerfileError(line, `${keyword} is not understood by scripts/container (add it there first)`);
    const { flags, args } = splitFlags(rest);
    if (keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = splitOnce(args, '=');
      globalArgs[name] = unquote(value);
      continue;
    }
    if (keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!match) throw new DockerfileError(line, `FROM ${args}: expected "FROM image [AS name]"`);
      const from = match[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a?: string, b?: string) => {
        const name = (a ?? b)!;
        if (!(name in globalArgs))
          throw new DockerfileError(line, `FROM uses $${name}, which no ARG before FROM declares`);
        return globalArgs[name]!;
      });
      stages.push({ name: match[2] ?? String(stages.length), from, instructions: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new DockerfileError(line, `${keyword} before the first FROM`);
    stage.instructions.push({ keyword, flags, args, line });
  }
  if (stages.length === 0) throw new DockerfileError(1, 'no FROM');
  return { globalArgs, stages };
}

/** The final stage's runtime configuration (ENV, WORKDIR, USER, ENTRYPOINT, CMD, ...). */
export function imageConfig(dockerfile: Dockerfile): ImageConfig {
  const stage = dockerfile.stages.at(-1)!;
  const config: ImageConfig = {
    from: stage.from,
    env: {},
    workdir: '/',
    user: 'root',
    entrypoint: [],
    cmd: [],
    healthcheck: null,
    expose: [],
    volumes: [],
  };
  for (const instruction of stage.instructions) {
    const { keyword, args, flags, line } = instruction;
    switch (keyword) {
      case 'ENV':
        Object.assign(config.env, parseEnv(args, line));
        break;
      case 'WORKDIR':
        config.workdir = resolvePath(config.workdir, args);
        break;
      case 'USER':
        config.user = args;
        break;
      case 'ENTRYPOINT':
        config.entrypoint = execForm(args, line, keyword);
        // As in Docker: setting ENTRYPOINT resets a CMD inherited from earlier in the stage.
        config.cmd = [];
        break;
      case 'CMD':
        config.cmd = execForm(args, line, keyword);
        break;
      case 'EXPOSE':
        config.expose.push(...args.split(/\s+/));
        break;
      case 'VOLUME':
        config.volumes.push(...(args.startsWith('[') ? execForm(args, line, keyword) : args.split(/\s+/)));
        break;
      case 'HEALTHCHECK': {
        const match = /^CMD\s+(.*)$/s.exec(args);
        if (!match) throw new DockerfileError(line, 'HEALTHCHECK must be HEALTHCHECK [flags] CMD [...]');
        config.healthcheck = {
          test: execForm(match[1]!, line, 'HEALTHCHECK CMD'),
          ...(flags.interval !== undefined && { interval: flags.interval }),
          ...(flags.timeout !== undefined && { timeout: flags.timeout }),
          ...(flags['start-period'] !== undefined && { startPeriod: flags['start-period'] }),
          ...(flags['start-interval'] !== undefined && { startInterval: flags['start-interval'] }),
          ...(flags.retries !== undefined && { retries: flags.retries }),
        };
        break;
      }
      default:
        break;
    }
  }
  return config;
}

/** `node:24.21.0-bookworm-slim` -> { version: '24.21.0', suite: 'bookworm' } (null if not that shape). */
export function nodeImageVersion(from: string): { version: string; suite: string | null } | null {
  const match =
    /^(?:docker\.io\/)?(?:library\/)?node:(\d+\.\d+\.\d+)(?:-([a-z]+))?(?:-slim)?(?:@sha256:[0-9a-f]{64})?$/.exec(from);
  return match ? { version: match[1]!, suite: match[2] ?? null } : null;
}

/** Splits a RUN's shell text into its `&&`-joined commands (no other shell syntax is accepted). */
export function runCommands(args: string, line: number): string[] {
  if (/[;|`<>]|\$\(|\|\|/.test(args.replace(/'[^']*'|"[^"]*"/g, ''))) {
    throw new DockerfileError(line, `RUN ${args}: only commands joined with && can be emulated`);
  }
  return args
    .split(/\s*&&\s*/)
    .map((command) => command.trim())
    .filter((command) => command !== '');
}

/** An absolute image path for `path` relative to the working directory `cwd`. */
export function resolvePath(cwd: string, path: string): string {
  const parts = (path.startsWith('/') ? path : `${cwd}/${path}`).split('/');
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

// --- .dockerignore ---------------------------------------------------------------------------

interface IgnorePattern {
  negate: boolean;
  regex: RegExp;
  /** The pattern's path segments, to tell whether a re-include can reach inside a directory. */
  segments: string[];
}

/** A compiled .dockerignore: `excludes(path)` for a slash-separated path relative to the context. */
export interface DockerIgnore {
  excludes(path: string): boolean;
  /** False when no `!` pattern can re-include anything below the excluded directory `dir`. */
  mayReincludeUnder(dir: string): boolean;
}

export function parseDockerIgnore(text: string): DockerIgnore {
  const patterns: IgnorePattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    const cleaned = resolvePath('/', line).slice(1);
    if (cleaned === '') continue;
    patterns.push({ negate, regex: globRegex(cleaned), segments: cleaned.split('/') });
  }

  // moby/patternmatcher MatchesOrParentMatches: a pattern matches the path or any parent of it.
  const matches = (pattern: IgnorePattern, path: string): boolean => {
    const parts = path.split('/');
    for (let i = parts.length; i >= 1; i--) {
      if (pattern.regex.test(parts.slice(0, i).join('/'))) return true;
    }
    return false;
  };

  return {
    excludes(path) {
      let excluded = false;
      for (const pattern of patterns) {
        if (pattern.negate === excluded && matches(pattern, path)) excluded = !pattern.negate;
      }
      return excluded;
    },
    mayReincludeUnder(dir) {
      const parts = dir.split('/');
      return patterns.some((pattern) => {
        if (!pattern.negate) return false;
        for (let i = 0; i < parts.length; i++) {
          const segment = pattern.segments[i];
          if (segment === undefined) return false;
          if (segment === '**') return true;
          if (!globRegex(segment).test(parts[i]!)) return false;
        }
        return pattern.segments.length > parts.length;
      });
    },
  };
}

/** Go filepath.Match syntax (`*`, `?`, `[...]`, `\`) plus `**` for any number of directories. */
function globRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        out += '(?:.*/)?';
      } else {
        out += '.*';
      }
    } else if (c === '*') {
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new Error(`.dockerignore: unclosed [ in ${pattern}`);
      out += `[${pattern
        .slice(i + 1, end)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) {
      out += escapeRegex(pattern[++i]!);
    } else {
      out += escapeRegex(c);
    }
  }
  return new RegExp(`^${out}$`);
}

// --- helpers ---------------------------------------------------------------------------------

function* logicalLines(text: string): Generator<{ keyword: string; rest: string; line: number }> {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = lines[i]!.trim();
    if (first === '' || first.startsWith('#')) continue;
    const start = i + 1;
    let joined = first;
    // A trailing backslash continues the instruction; comment lines inside it are dropped.
    while (joined.endsWith('\\') && i + 1 < lines.length) {
      joined = joined.slice(0, -1).trimEnd();
      let next = lines[++i]!.trim();
      while (next.startsWith('#') && i + 1 < lines.length) next = lines[++i]!.trim();
      joined = `${joined} ${next}`;
    }
    const match = /^(\S+)\s*(.*)$/s.exec(joined)!;
    yield { keyword: match[1]!.toUpperCase(), rest: match[2]!.trim(), line: start };
  }
}

function splitFlags(rest: string): { flags: Record<string, string>; args: string } {
  const flags: Record<string, string> = {};
  let args = rest;
  for (let match = /^--([\w-]+)=(\S+)\s*/.exec(args); match; match = /^--([\w-]+)=(\S+)\s*/.exec(args)) {
    flags[match[1]!] = match[2]!;
    args = args.slice(match[0].length);
  }
  return { flags, args: args.trim() };
}

function parseEnv(args: string, line: number): Record<string, string> {
  const env: Record<string, string> = {};
  const token = /\s*([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s"']*)/y;
  let at = 0;
  while (at < args.length) {
    token.lastIndex = at;
    const match = token.exec(args);
    if (!match) throw new DockerfileError(line, `ENV ${args}: write it as ENV NAME=value NAME2=value2`);
    const value = unquote(match[2]!);
    if (/\$/.test(match[2]!.startsWith("'") ? '' : value))
      throw new DockerfileError(line, `ENV ${match[1]}: variable substitution is not emulated`);
    env[match[1]!] = value;
    at = token.lastIndex;
    while (args[at] === ' ') at++;
  }
  return env;
}

function execForm(args: string, line: number, keyword: string): string[] {
  let value: unknown;
  try {
    value = JSON.parse(args);
  } catch {
    throw new DockerfileError(
      line,
      `${keyword} must be in JSON (exec) form, so that signals reach the process: ${args}`,
    );
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string'))
    throw new DockerfileError(line, `${keyword} must be a JSON array of strings`);
  return value;
}

function splitOnce(text: string, separator: string): [string, string?] {
  const at = text.indexOf(separator);
  return at < 0 ? [text] : [text.slice(0, at), text.slice(at + separator.length)];
}

function unquote(value: string): string {
  if (value.startsWith('"') && value.endsWith('"')) return value.slice(1, -1).replace(/\\(.)/g, '$1');
  if (value.startsWith("'") && value.endsWith("'")) return value.slice(1, -1);
  return value;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
