import { describe, expect, it } from 'vitest';
import { misspeltVariables } from '../../src/config/typos.ts';

const warn = (...names: string[]) => misspeltVariables(Object.fromEntries(names.map((name) => [name, 'x'])));

describe('misspelt variables', () => {
  it('names the variable meant, for a slip of one or two edits', () => {
    expect(warn('BUCKET_SIZ', 'BUKET_SIZE', 'TIM_SECRETKEY', 'STATS_HORIZN', 'DATABASEURL')).toEqual([
      'BUCKET_SIZ is not a pushloss variable and is ignored; did you mean BUCKET_SIZE?',
      'BUKET_SIZE is not a pushloss variable and is ignored; did you mean BUCKET_SIZE?',
      'DATABASEURL is not a pushloss variable and is ignored; did you mean DATABASE_URL?',
      'STATS_HORIZN is not a pushloss variable and is ignored; did you mean STATS_HORIZON?',
      'TIM_SECRETKEY is not a pushloss variable and is ignored; did you mean TIM_SECRET_KEY?',
    ]);
  });

  it('leaves our own variables and the usual system and tool variables alone', () => {
    const system = `PATH HOME HOSTNAME HTTP_PROXY HTTPS_PROXY NO_PROXY NODE_ENV NODE_OPTIONS LANG LC_ALL TZ PWD
      OLDPWD TERM SHELL USER LOGNAME PGHOST PGPORT PGUSER PGPASSWORD PGDATABASE SHLVL EDITOR DISPLAY
      XDG_RUNTIME_DIR KUBERNETES_SERVICE_HOST KUBERNETES_PORT DOCKER_HOST CI GITHUB_ACTIONS TMPDIR PORT HOST
      LOG_FORMAT DATABASE_HOST DATABASE_USER BUCKET_SIZE TIM_SDKAPPID HTTP_PORT`;
    expect(warn(...system.split(/\s+/))).toEqual([]);
  });
});
