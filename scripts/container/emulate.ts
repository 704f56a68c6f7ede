/**
 * Emulates `docker build` and `docker run` of this repository's Dockerfile on the host, for
 * scripts/validate-container.sh (no Docker engine needed). Runs on Node 24 (type stripping).
 *
 *   node scripts/container/emulate.ts build --context DIR --out DIR [--dockerfile FILE]
 *       Copies the build context as .dockerignore filters it, then runs every stage's
 *       instructions: COPY for real, RUN's npm commands for real in the stage's WORKDIR with its
 *       ENV, RUN's image-only commands (apt-get, rm of apt lists, npm cache clean) checked or
 *       skipped, anything else refused. Each stage gets a folder standing for its "/".
 *       Writes OUT/image.json (the final stage's Config, as `docker inspect` shows it).
 *
 *   node scripts/container/emulate.ts argv --image DIR --path-prefix DIR [--env K=V]...
 *       [--pid-namespace] [--as-user] [--healthcheck] [-- CMD...]
 *       Prints, NUL-separated, the command line that starts the container's process the way
 *       `docker run [-e K=V] IMAGE [CMD...]` would: ENTRYPOINT + CMD (or the given CMD), the
 *       image's ENV in an otherwise empty environment, in WORKDIR; optionally as the image's
 *       USER (setpriv) and as PID 1 of a new PID namespace (unshare). Image paths that the
 *       emulation created (WORKDIR, /data...) are mapped into the stage folder; other absolute
 *       paths (/usr/bin/tini) are the host's, from the same Debian package.
 *
 *   node scripts/container/emulate.ts get --image DIR KEY
 *       Prints one field of image.json (workdirHost, rootHost, user, nodeVersion, ...).
 */
import { spawnSync } from 'node:child_process';
import {
  chownSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  imageConfig,
  nodeImageVersion,
  parseDockerfile,
  parseDockerIgnore,
  resolvePath,
  runCommands,
  type ImageConfig,
  type Instruction,
  type Stage,
} from './dockerfile.ts';

/** Users of the node base images: root, and `node` (uid/gid 1000, home /home/node). */
const IMAGE_USERS: Record<string, { uid: number; gid: number; home: string }> = {
  root: { uid: 0, gid: 0, home: '/root' },
  node: { uid: 1000, gid: 1000, home: '/home/node' },
};

/** Docker's default PATH, which the node images keep (node lives in /usr/local/bin). */
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface EmulatedImage extends ImageConfig {
  /** Host folder standing for the final stage's "/". */
  rootHost: string;
  /** Host folder of WORKDIR. */
  workdirHost: string;
  nodeVersion: string | null;
  debianSuite: string | null;
  /** Image paths created by the emulation (mapped into rootHost when they appear in ENV or argv). */
  createdPaths: string[];
}

const log = (line: string) => console.log(`  [emulate] ${line}`);

function fail(message: string): never {
  console.error(`emulate: ${message}`);
  process.exit(1);
}

// --- build -----------------------------------------------------------------------------------

function build(contextDir: string, outDir: string, dockerfilePath: string): void {
  const dockerfile = parseDockerfile(readFileSync(dockerfilePath, 'utf8'));
  const ignoreFile = join(contextDir, '.dockerignore');
  const ignore = parseDockerIgnore(existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '');

  rmSync(outDir, { recursive: true, force: true });
  const contextCopy = join(outDir, 'context');
  const files = contextFiles(contextDir, ignore);
  for (const file of files) copyEntry(join(contextDir, file), join(contextCopy, file));
  log(`build context: ${files.length} files after .dockerignore (${summarize(files)})`);

  const stageRoots = new Map<string, string>();
  let final: EmulatedImage | undefined;
  for (const stage of dockerfile.stages) {
    const root = join(outDir, 'stages', stage.name);
    mkdirSync(root, { recursive: true });
    stageRoots.set(stage.name, root);
    log(`--- stage ${stage.name} (FROM ${stage.from})`);
    if (stageRoots.has(stage.from)) fail(`stage ${stage.name}: FROM another stage is not emulated`);
    const created = runStage(stage, root, contextCopy, stageRoots);
    const config = imageConfig({ globalArgs: dockerfile.globalArgs, stages: [stage] });
    const node = nodeImageVersion(stage.from);
    final = {
      ...config,
      rootHost: root,
      workdirHost: join(root, config.workdir),
      nodeVersion: node?.version ?? null,
      debianSuite: node?.suite ?? null,
      createdPaths: created,
    };
  }
  writeFileSync(join(outDir, 'image.json'), `${JSON.stringify(final, null, 2)}\n`);
  log(
    `image config written: ENTRYPOINT ${JSON.stringify(final!.entrypoint)} CMD ${JSON.stringify(final!.cmd)} USER ${final!.user} WORKDIR ${final!.workdir}`,
  );
}

/** Runs one stage's instructions in `root`; returns the image paths it created. */
function runStage(stage: Stage, root: string, contextCopy: string, stageRoots: Map<string, string>): string[] {
  const env: Record<string, string> = {};
  const created = new Set<string>();
  let workdir = '/';
  let user = 'root';
  for (const instruction of stage.instructions) {
    const { keyword, args, line } = instruction;
    switch (keyword) {
      case 'WORKDIR':
        workdir = resolvePath(workdir, args);
        mkdirSync(join(root, workdir), { recursive: true });
        created.add(workdir);
        break;
      case 'ENV':
        Object.assign(
          env,
          imageConfig({ globalArgs: {}, stages: [{ name: '', from: '', instructions: [instruction] }] }).env,
        );
        break;
      case 'USER':
        if (!(args in IMAGE_USERS))
          fail(`line ${line}: USER ${args} is not a user of the node image that the emulation knows`);
        user = args;
        break;
      case 'COPY':
        copy(instruction, root, workdir, contextCopy, stageRoots);
        break;
      case 'RUN':
        if (user !== 'root') fail(`line ${line}: RUN after USER ${user} is not emulated`);
        for (const command of runCommands(args, line)) run(command, { root, workdir, env, created, line });
        break;
      default:
        break;
    }
  }
  return [...created];
}

function copy(
  instruction: Instruction,
  root: string,
  workdir: string,
  contextCopy: string,
  stageRoots: Map<string, string>,
): void {
  const { args, flags, line } = instruction;
  if (args.startsWith('[')) fail(`line ${line}: COPY in JSON form is not emulated`);
  const parts = args.split(/\s+/);
  const destArg = parts.pop()!;
  if (parts.length === 0) fail(`line ${line}: COPY needs a source and a destination`);
  const fromRoot = flags.from === undefined ? contextCopy : stageRoots.get(flags.from);
  if (fromRoot === undefined) fail(`line ${line}: COPY --from=${flags.from}: no such stage before this one`);
  const dest = resolvePath(workdir, destArg);
  const intoDir = destArg.endsWith('/') || destArg === '.' || parts.length > 1;
  for (const source of parts) {
    if (/[*?[]/.test(source)) fail(`line ${line}: COPY ${source}: wildcards are not emulated`);
    const from = join(fromRoot, flags.from === undefined ? resolvePath('/', source) : resolvePath(workdir, source));
    if (!existsSync(from)) {
      fail(
        `line ${line}: COPY ${source}: not in ${flags.from === undefined ? 'the build context (excluded by .dockerignore, or missing)' : `stage ${flags.from}`}`,
      );
    }
    const isDir = lstatSync(from).isDirectory();
    const target = join(root, isDir || !intoDir ? dest : join(dest, source.split('/').at(-1)!));
    copyEntry(from, target);
    log(
      `COPY ${flags.from === undefined ? '' : `--from=${flags.from} `}${source} -> ${isDir || !intoDir ? dest : join(dest, source.split('/').at(-1)!)}`,
    );
  }
}

interface RunContext {
  root: string;
  workdir: string;
  env: Record<string, string>;
  created: Set<string>;
  line: number;
}

function run(command: string, { root, workdir, env, created, line }: RunContext): void {
  const words = command.split(/\s+/);
  if (/^npm cache clean\b/.test(command)) {
    log(`RUN ${command}: skipped (shrinks the image layer only; here it would wipe the host's npm cache)`);
  } else if (words[0] === 'npm') {
    log(`RUN ${command}   (in ${workdir}, ENV ${JSON.stringify(env)})`);
    const started = Date.now();
    const result = spawnSync('/bin/sh', ['-c', command], {
      cwd: join(root, workdir),
      stdio: 'inherit',
      // The image's environment for the step. HOME stays the host's so npm uses its cache, and
      // the host's registry access (proxy, CA bundle, npm_config_*) is passed through, as a
      // builder's network would provide it.
      env: { ...hostNetworkEnv(), ...env, PATH: process.env.PATH ?? IMAGE_PATH, HOME: process.env.HOME ?? '/root' },
    });
    if (result.status !== 0) fail(`line ${line}: RUN ${command} exited with ${result.status ?? result.signal}`);
    log(`  done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } else if (words[0] === 'apt-get' && words[1] === 'update') {
    log(`RUN ${command}: skipped (image-only)`);
  } else if (words[0] === 'apt-get' && words[1] === 'install') {
    for (const spec of words.slice(2).filter((word) => !word.startsWith('-'))) checkHostPackage(spec, line);
  } else if (command === 'rm -rf /var/lib/apt/lists/*') {
    log(`RUN ${command}: skipped (image-only)`);
  } else if (words[0] === 'mkdir' && words[1] === '-p') {
    for (const path of words.slice(2)) {
      const absolute = resolvePath(workdir, path);
      mkdirSync(join(root, absolute), { recursive: true });
      created.add(absolute);
      log(`RUN mkdir -p ${absolute}`);
    }
  } else if (words[0] === 'chown' && words.length >= 3 && !words[1]!.startsWith('-')) {
    const owner = IMAGE_USERS[words[1]!.split(':')[0]!];
    if (!owner) fail(`line ${line}: chown ${words[1]}: unknown user`);
    for (const path of words.slice(2)) {
      const absolute = resolvePath(workdir, path);
      if (process.getuid?.() === 0) chownSync(join(root, absolute), owner.uid, owner.gid);
      log(
        `RUN chown ${words[1]} ${absolute}${process.getuid?.() === 0 ? ` (uid ${owner.uid})` : ' (not applied: not root)'}`,
      );
    }
  } else {
    fail(`line ${line}: RUN ${command}: this command is not emulated; teach scripts/container/emulate.ts what it does`);
  }
}

function hostNetworkEnv(): Record<string, string> {
  const pass = /^(https?_proxy|no_proxy|all_proxy|node_extra_ca_certs|ssl_cert_file|ssl_cert_dir|npm_config_.*)$/i;
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => pass.test(entry[0]) && entry[1] !== undefined,
    ),
  );
}

/** `tini=0.19.0-1+b3`: the host must have that package at that version, from Debian's archive. */
function checkHostPackage(spec: string, line: number): void {
  const [name, version] = spec.split('=') as [string, string | undefined];
  const installed = spawnSync('dpkg-query', ['-W', '-f=${Version}', name], { encoding: 'utf8' });
  if (installed.error) {
    log(`RUN apt-get install ${spec}: NOT CHECKED (no dpkg on this host)`);
    return;
  }
  if (installed.status !== 0 || installed.stdout === '')
    fail(`line ${line}: apt-get install ${spec}: ${name} is not installed on this host (apt-get install ${name})`);
  if (version !== undefined && installed.stdout !== version) {
    fail(
      `line ${line}: apt-get install ${spec}: this host has ${name} ${installed.stdout}; if Debian now serves that version, update the pin`,
    );
  }
  const served = spawnSync('apt-cache', ['show', spec], { encoding: 'utf8' });
  const servedNote =
    served.status === 0 && served.stdout.includes('Package:')
      ? 'served by the apt sources'
      : 'not confirmed as served (apt lists missing?)';
  log(`RUN apt-get install ${spec}: host package ${name} ${installed.stdout} used instead (${servedNote})`);
}

// --- argv ------------------------------------------------------------------------------------

function argv(
  image: EmulatedImage,
  options: {
    pathPrefix: string;
    env: string[];
    pidNamespace: boolean;
    asUser: boolean;
    healthcheck: boolean;
    cmd: string[];
  },
): string[] {
  const user = IMAGE_USERS[image.user];
  if (!user) fail(`USER ${image.user} is not known to the emulation`);
  const mapPath = (value: string) => {
    const created = image.createdPaths.find((path) => value === path || value.startsWith(`${path}/`));
    return created === undefined ? value : join(image.rootHost, value);
  };
  // HOME exists but stays root-owned: docker-compose.yml runs the container read_only, so only
  // the volume (and /tmp) may be written, and a write elsewhere must fail here too.
  const home = join(image.rootHost, user.home);
  mkdirSync(home, { recursive: true });

  const env: Record<string, string> = { PATH: `${options.pathPrefix}:${IMAGE_PATH}`, HOME: home, HOSTNAME: 'pushloss' };
  if (image.nodeVersion) env.NODE_VERSION = image.nodeVersion;
  for (const [name, value] of Object.entries(image.env)) env[name] = mapPath(value);
  for (const pair of options.env) {
    const [name, ...rest] = pair.split('=');
    env[name!] = rest.join('=');
  }

  let command: string[];
  if (options.healthcheck) {
    if (!image.healthcheck) fail('the image has no HEALTHCHECK');
    command = image.healthcheck.test;
  } else {
    command = [...image.entrypoint, ...(options.cmd.length > 0 ? options.cmd : image.cmd)];
  }
  if (command.length === 0) fail('nothing to run: no ENTRYPOINT or CMD');
  command = command.map((word) => (word.startsWith('/') ? mapPath(word) : word));

  const wrappers: string[] = [];
  if (options.pidNamespace) wrappers.push('unshare', '--pid', '--fork', '--mount-proc', '--kill-child');
  if (options.asUser && user.uid !== 0)
    wrappers.push('setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--');
  return [
    ...wrappers,
    'env',
    '-i',
    '-C',
    image.workdirHost,
    ...Object.entries(env).map(([name, value]) => `${name}=${value}`),
    ...command,
  ];
}

// --- file helpers ----------------------------------------------------------------------------

function contextFiles(contextDir: string, ignore: ReturnType<typeof parseDockerIgnore>): string[] {
  const out: string[] = [];
  const walk = (relative: string) => {
    for (const entry of readdirSync(join(contextDir, relative), { withFileTypes: true })) {
      const path = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (entry.isDirectory()) {
        // Like the Docker client: skip an excluded directory unless a `!` line can reach inside.
        if (ignore.excludes(path) && !ignore.mayReincludeUnder(path)) continue;
        walk(path);
      } else if (!ignore.excludes(path)) {
        out.push(path);
      }
    }
  };
  walk('');
  return out.sort();
}

function copyEntry(from: string, to: string): void {
  const stat = lstatSync(from);
  if (stat.isDirectory()) {
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(from)) copyEntry(join(from, name), join(to, name));
  } else if (stat.isSymbolicLink()) {
    mkdirSync(dirname(to), { recursive: true });
    rmSync(to, { force: true });
    symlinkSync(readlinkSync(from), to);
  } else {
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
  }
}

function summarize(files: string[]): string {
  const top = new Map<string, number>();
  for (const file of files) {
    const head = file.includes('/') ? `${file.split('/')[0]}/` : file;
    top.set(head, (top.get(head) ?? 0) + 1);
  }
  return [...top].map(([name, count]) => (name.endsWith('/') ? `${name} ${count}` : name)).join(', ');
}

// --- CLI -------------------------------------------------------------------------------------

function loadImage(dir: string): EmulatedImage {
  return JSON.parse(readFileSync(join(dir, 'image.json'), 'utf8')) as EmulatedImage;
}

function main(args: string[]): void {
  const [command, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      context: { type: 'string', default: '.' },
      out: { type: 'string' },
      dockerfile: { type: 'string' },
      image: { type: 'string' },
      'path-prefix': { type: 'string', default: '' },
      env: { type: 'string', multiple: true, default: [] },
      'pid-namespace': { type: 'boolean', default: false },
      'as-user': { type: 'boolean', default: false },
      healthcheck: { type: 'boolean', default: false },
    },
  });
  if (command === 'build') {
    if (!values.out) fail('build: --out DIR is required');
    const context = resolve(values.context);
    build(context, resolve(values.out), values.dockerfile ?? join(context, 'Dockerfile'));
  } else if (command === 'argv') {
    if (!values.image) fail('argv: --image DIR is required');
    const words = argv(loadImage(values.image), {
      pathPrefix: values['path-prefix'],
      env: values.env,
      pidNamespace: values['pid-namespace'],
      asUser: values['as-user'],
      healthcheck: values.healthcheck,
      cmd: positionals,
    });
    process.stdout.write(words.map((word) => `${word}\0`).join(''));
  } else if (command === 'get') {
    if (!values.image || positionals.length !== 1) fail('get: --image DIR KEY');
    const value = (loadImage(values.image) as unknown as Record<string, unknown>)[positionals[0]!];
    console.log(typeof value === 'string' ? value : JSON.stringify(value));
  } else {
    fail('usage: emulate.ts build|argv|get ... (see the comment at the top of the file)');
  }
}

main(process.argv.slice(2));
