import { execFile } from 'node:child_process';

export interface Ran {
  /** Exit code; -1 when the command could not run or timed out. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion. Never throws for a failed command: the caller asserts on it. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `docker ARGS`'s standard output, trimmed; throws with its standard error when it fails. */
export async function docker(...args: string[]): Promise<string> {
  const ran = await run('docker', args);
  if (ran.code !== 0) throw new Error(`docker ${args.join(' ')} exited with ${ran.code}: ${ran.stderr.trim()}`);
  return ran.stdout.trim();
}

/** `docker inspect` of one container or image, parsed. */
export async function inspect(name: string): Promise<DockerObject> {
  return (JSON.parse(await docker('inspect', name)) as DockerObject[])[0]!;
}

/** The parts of `docker inspect` the tests read. */
interface DockerObject {
  Size?: number;
  Config: {
    User: string;
    Env: string[];
    Entrypoint: string[] | null;
    Cmd: string[] | null;
    ExposedPorts?: Record<string, object>;
    Volumes?: Record<string, object> | null;
    Labels?: Record<string, string> | null;
    Healthcheck?: { Test: string[]; Interval?: number; StartInterval?: number };
  };
  State?: { Status: string; ExitCode: number; OOMKilled: boolean; Health?: { Status: string } };
  HostConfig?: { ReadonlyRootfs: boolean; CapDrop: string[] | null; SecurityOpt: string[] | null };
}

/** The container's health as the engine runs its HEALTHCHECK: starting, healthy or unhealthy. */
export async function health(container: string): Promise<string | undefined> {
  return (await inspect(container)).State?.Health?.Status;
}
